# stateful part tests: operators, dedup, watermarks, checkpoints, the state cache.
vigil_test(NAME detect_stateful_test
  SRCS stateful_test.cc fingerprint_set_test.cc
  DEPS vigil::detect simdjson::simdjson)
