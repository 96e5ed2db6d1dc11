# Tests of the condition language parser.
vigil_test(NAME detect_condition_test SRCS condition_test.cc DEPS vigil::detect)
