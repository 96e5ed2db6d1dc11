# engine part tests: field schema, rule engine, linter.
vigil_test(NAME detect_engine_test
  SRCS fields_test.cc rule_engine_test.cc lint_test.cc literal_sets_test.cc
  DEPS vigil::detect simdjson::simdjson PkgConfig::RE2)
target_include_directories(detect_engine_test PRIVATE ${PROJECT_SOURCE_DIR}/detect/src)
