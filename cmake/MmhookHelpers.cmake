# Helper functions shared by the mmhook build.

# Warnings for our own targets (never for third-party code).
function(mmhook_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
    if(MMHOOK_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

# mmhook_add_test_area(<area>): one gtest binary per folder tests/<area>/ from its test_*.cpp,
# linked with the shared fixtures in tests/support, registered with ctest.
function(mmhook_add_test_area area)
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${area}/test_*.cpp)
  if(NOT sources)
    return()
  endif()
  add_executable(test_${area} ${sources})
  target_link_libraries(test_${area} PRIVATE mmhook_test_support GTest::gtest_main)
  target_include_directories(test_${area} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  mmhook_set_warnings(test_${area})
  mmhook_use_exe_pch(test_${area})
  gtest_discover_tests(test_${area} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 600)
endfunction()
