# The condition language parser shared by the native and Falco front ends.
list(APPEND VIGIL_DETECT_SRCS src/condition.cc)
