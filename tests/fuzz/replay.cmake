# Replays every seed corpus (fixtures/fuzz/<target>/) and every regression input
# (fixtures/fuzz/regressions/<target>/) through the fuzz targets' entry points, without
# libFuzzer: each fuzz_<target>.c is linked with replay_main.c and the ordinary library, with
# the build's own compiler and flags (ASan+UBSan too when PYHEAP_SANITIZE is on). One ctest
# test per target: fuzz/replay_<target>.
#
# Included from tests/CMakeLists.txt (the normal build) and from tests/fuzz/CMakeLists.txt
# (the fuzz build); the guard makes the second include a no-op.
include_guard(GLOBAL)

get_filename_component(_pyh_fuzz_src ${CMAKE_CURRENT_LIST_DIR} ABSOLUTE)
get_filename_component(_pyh_fuzz_data ${CMAKE_CURRENT_LIST_DIR}/../../fixtures/fuzz ABSOLUTE)
set(_pyh_replay_targets core dwarf symbols pymalloc glibc classify referents snapshot)

add_library(pyheap_fuzz_replay STATIC ${_pyh_fuzz_src}/fuzz_common.c ${_pyh_fuzz_src}/fuzz_heap.c)
target_include_directories(pyheap_fuzz_replay PUBLIC ${_pyh_fuzz_src})
target_link_libraries(pyheap_fuzz_replay PUBLIC pyheap_static)

foreach(t ${_pyh_replay_targets})
  add_executable(replay_${t} ${_pyh_fuzz_src}/fuzz_${t}.c ${_pyh_fuzz_src}/replay_main.c)
  target_link_libraries(replay_${t} PRIVATE pyheap_fuzz_replay)
  set(_dirs ${_pyh_fuzz_data}/${t})
  if(EXISTS ${_pyh_fuzz_data}/regressions/${t})
    list(APPEND _dirs ${_pyh_fuzz_data}/regressions/${t})
  endif()
  add_test(NAME fuzz/replay_${t} COMMAND replay_${t} ${_dirs})
  set_tests_properties(fuzz/replay_${t} PROPERTIES LABELS "fuzz;unit" TIMEOUT 600)
endforeach()
