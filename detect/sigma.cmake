# The Sigma front end (kubernetes/audit rules -> rule IR).
list(APPEND VIGIL_DETECT_SRCS
  src/sigma_condition.cc
  src/sigma_loader.cc
  src/sigma_selection.cc
)
