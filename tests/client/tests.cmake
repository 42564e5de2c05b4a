# tests/client: extras beyond the cmocka programs (included from
# tests/CMakeLists.txt after settee_add_tests(client settee_static)).
file(GLOB _client_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/client/test_*.c)
foreach(src ${_client_tests})
  get_filename_component(name ${src} NAME_WE)
  # The sync tests start the real `settee serve`.
  target_compile_definitions(client_${name} PRIVATE
                             CT_SETTEE_BIN="$<TARGET_FILE:settee_cli>")
  add_dependencies(client_${name} settee_cli)
  set_tests_properties(client_${name} PROPERTIES TIMEOUT 300)
endforeach()

# The CLI's display formatting, unit-tested on its own sources.
target_sources(client_test_cli_format PRIVATE ${PROJECT_SOURCE_DIR}/client/cli/progress.c
               ${PROJECT_SOURCE_DIR}/client/cli/http.c)
target_include_directories(client_test_cli_format PRIVATE ${PROJECT_SOURCE_DIR}/client/cli
                           ${PROJECT_SOURCE_DIR}/core)

# libsettee.so exports settee_* and nothing else.
add_test(NAME client_exports
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/client/check_exports.sh $<TARGET_FILE:settee_shared>)

# settee.h compiles as C++ (extern "C", no C-only syntax), when g++ exists.
find_program(SETTEE_CXX NAMES g++ c++ clang++)
if(SETTEE_CXX)
  add_test(NAME client_header_cxx
           COMMAND ${SETTEE_CXX} -std=c++11 -Wall -Wextra -Werror -fsyntax-only -x c++
                   -I${PROJECT_SOURCE_DIR}/client/include
                   ${CMAKE_CURRENT_SOURCE_DIR}/client/header_cxx.cpp)
endif()

# Built and used from outside the tree: install the libsettee component into
# a scratch prefix, then compile a tiny program with pkg-config (and one with
# find_package(settee)) and run them.
set(_sanflags "")
if(SETTEE_SANITIZE)
  set(_sanflags "-fsanitize=address,undefined")
endif()
add_test(NAME client_outside_tree
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/client/outside_tree.sh ${CMAKE_BINARY_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/outside ${CMAKE_CURRENT_SOURCE_DIR}/client/outside
                 ${CMAKE_C_COMPILER} ${CMAKE_COMMAND} "${_sanflags}")
set_tests_properties(client_outside_tree PROPERTIES TIMEOUT 300)

# The listener tests again on the notify shim's pipe backend.
if(TARGET settee_static_pipe)
  add_executable(client_test_listeners_pipe ${CMAKE_CURRENT_SOURCE_DIR}/client/test_listeners.c)
  target_link_libraries(client_test_listeners_pipe PRIVATE settee_static_pipe PkgConfig::CMOCKA)
  target_include_directories(client_test_listeners_pipe PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(client_test_listeners_pipe PRIVATE
                             CT_SETTEE_BIN="$<TARGET_FILE:settee_cli>")
  add_dependencies(client_test_listeners_pipe settee_cli)
  add_test(NAME client_test_listeners_pipe COMMAND client_test_listeners_pipe)
  set_tests_properties(client_test_listeners_pipe PROPERTIES TIMEOUT 300
                       ENVIRONMENT "SETTEE_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp")
endif()
