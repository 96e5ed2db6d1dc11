# stateful part: the StatefulDetector (dedup, watermarks, state cache, the four operators) and
# the encoding of operator state.
list(APPEND VIGIL_DETECT_SRCS
  src/stateful_detector.cc
  src/state_codec.cc
)
