# The built-in rule pack: detect/rules/*.yaml compiled into the library (cmake/EmbedFiles.cmake),
# plus the loader that dispatches rule files to their front end. Data files are globbed (with
# CONFIGURE_DEPENDS) so that adding a rule file needs no CMake edit; sources never are.
file(GLOB VIGIL_RULE_FILES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/rules/*.yaml)
list(SORT VIGIL_RULE_FILES)
string(REPLACE ";" "|" vigil_rule_files_arg "${VIGIL_RULE_FILES}")
set(vigil_pack_cc ${CMAKE_CURRENT_BINARY_DIR}/builtin_pack_files.cc)
add_custom_command(
  OUTPUT ${vigil_pack_cc}
  COMMAND ${CMAKE_COMMAND} -DOUTPUT=${vigil_pack_cc} -DNAMESPACE=vigil::detect
          -DFUNCTION=BuiltinPackFiles "-DFILES=${vigil_rule_files_arg}"
          -P ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
  DEPENDS ${VIGIL_RULE_FILES} ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
  COMMENT "Embedding the built-in rule pack"
  VERBATIM)
list(APPEND VIGIL_DETECT_SRCS ${vigil_pack_cc} src/rule_files.cc)
