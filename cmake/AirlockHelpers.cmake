# airlock_cc_library(NAME n SRCS ... [DEPS ...] [PRIVATE_DEPS ...])
# One static library per module, in the shape of Abseil's absl_cc_library: public deps are
# what its headers expose, private deps stay inside its .cc files.
function(airlock_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SRCS})
  target_include_directories(${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${A_NAME} PUBLIC ${A_DEPS} PRIVATE ${A_PRIVATE_DEPS})
endfunction()

# airlock_cc_test(NAME n SRCS ... DEPS ...): a GoogleTest binary registered with ctest.
function(airlock_cc_test)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  if(NOT AIRLOCK_BUILD_TESTS)
    return()
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${A_NAME} PRIVATE
    AIRLOCK_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    AIRLOCK_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${A_NAME} DISCOVERY_TIMEOUT 60)
endfunction()
