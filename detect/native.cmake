# The native rule format loader (YAML -> rule IR).
list(APPEND VIGIL_DETECT_SRCS src/native_loader.cc)
