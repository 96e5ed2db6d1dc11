# pack part: the built-in rule pack (detect/rules/*.yaml) — its inline tests, metadata and Falco
# coverage — and the vigil_rules_doc tool that generates docs/rules.md from it.
vigil_test(NAME detect_pack_test
  SRCS pack_test.cc
  DEPS vigil::detect simdjson::simdjson)
target_include_directories(detect_pack_test PRIVATE ${PROJECT_SOURCE_DIR}/detect/tools)

add_executable(vigil_rules_doc ${PROJECT_SOURCE_DIR}/detect/tools/rules_doc.cc)
target_link_libraries(vigil_rules_doc PRIVATE vigil::detect)
vigil_apply_warnings(vigil_rules_doc)
target_compile_definitions(vigil_rules_doc PRIVATE VIGIL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
