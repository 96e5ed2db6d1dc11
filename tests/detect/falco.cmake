# falco part tests: the Falco front end (loader, ka.* field table, per-rule corpus events).
vigil_test(NAME detect_falco_test
  SRCS falco_loader_test.cc
  DEPS vigil::detect simdjson::simdjson yaml-cpp)
target_include_directories(detect_falco_test PRIVATE ${PROJECT_SOURCE_DIR}/detect/src)
