# Tests of the native rule format loader. simdjson is a direct dep because the test parses JSON
# itself (its compile definitions must match the library's).
vigil_test(NAME detect_native_test SRCS native_loader_test.cc DEPS vigil::detect simdjson::simdjson)
