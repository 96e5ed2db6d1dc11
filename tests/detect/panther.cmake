# panther part: agreement of the built-in rule pack with Panther's labelled Kubernetes audit
# fixtures (../shared/corpus/panther; skipped when the corpus is absent).
vigil_test(NAME detect_panther_test
  SRCS panther_test.cc
  DEPS vigil::detect simdjson::simdjson)
