# Falco front end (k8s_audit rules files -> rule IR).
list(APPEND VIGIL_DETECT_SRCS
  src/falco_compile.cc
  src/falco_fields.cc
  src/falco_loader.cc
)
