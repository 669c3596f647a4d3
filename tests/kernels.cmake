# Included by tests/CMakeLists.txt after find_package(GTest) and
# include(GoogleTest). CMAKE_CURRENT_LIST_DIR (this file's folder) rather than
# CMAKE_CURRENT_SOURCE_DIR, so the snippet also works when included from
# elsewhere.
add_executable(kernels_test ${CMAKE_CURRENT_LIST_DIR}/kernels_test.cpp)
target_link_libraries(kernels_test PRIVATE troupe_kernels GTest::gtest_main)
gtest_discover_tests(kernels_test)
