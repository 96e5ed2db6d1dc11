# vigil_library(NAME SRCS ... DEPS ... [PUBLIC_DEPS ...]) -> target vigil_<NAME>, alias vigil::<NAME>.
# Every room's headers live under <room>/include/vigil/<room>/ and are public.
function(vigil_apply_warnings target)
  # -Wrestrict is off for GCC: GCC 12 reports false positives inside std::string at -O3
  # (GCC bug 105329), which -Werror would turn into a broken Release build.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror
                                           $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
endfunction()

function(vigil_library)
  cmake_parse_arguments(VL "" "NAME;DIR" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  if(NOT VL_DIR)
    set(VL_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  add_library(vigil_${VL_NAME} STATIC ${VL_SRCS})
  add_library(vigil::${VL_NAME} ALIAS vigil_${VL_NAME})
  target_include_directories(vigil_${VL_NAME} PUBLIC ${VL_DIR}/include)
  target_compile_features(vigil_${VL_NAME} PUBLIC cxx_std_20)
  target_link_libraries(vigil_${VL_NAME} PUBLIC ${VL_PUBLIC_DEPS} PRIVATE ${VL_DEPS})
  vigil_apply_warnings(vigil_${VL_NAME})
endfunction()

# vigil_test(NAME SRCS ... DEPS ...) -> a GoogleTest binary registered with ctest.
function(vigil_test)
  cmake_parse_arguments(VT "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${VT_NAME} ${VT_SRCS})
  target_link_libraries(${VT_NAME} PRIVATE ${VT_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  vigil_apply_warnings(${VT_NAME})
  target_compile_definitions(${VT_NAME} PRIVATE
    VIGIL_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    VIGIL_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${VT_NAME} DISCOVERY_TIMEOUT 60
    PROPERTIES ENVIRONMENT "VIGIL_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
