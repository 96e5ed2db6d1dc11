# engine part: field schema, rule engine (compiler + evaluator + index), linter.
list(APPEND VIGIL_DETECT_SRCS
  src/fields.cc
  src/rule_engine.cc
  src/lint.cc
  src/engine_match.cc
  src/body_paths.cc
  src/literal_sets.cc
)
