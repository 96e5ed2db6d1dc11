# Tests of the Sigma front end: loading and IR (sigma_loader_test), verdicts through the
# RuleEngine (sigma_eval_test).
vigil_test(NAME detect_sigma_test
  SRCS sigma_loader_test.cc sigma_eval_test.cc
  DEPS vigil::detect simdjson::simdjson)
