# What `cmake --install` puts where (and so what the Debian package holds, cmake/Packaging.cmake):
#   bin/joulebench
#   libexec/joulebench/             the helpers and built-in workloads find_helper() finds from bin/
#   share/man/man1/joulebench*.1    a page per command, generated from the command line
#   share/bash-completion/completions/joulebench
#   include/joulebench/             the header-only helpers for workloads (events, torch_profile) and
#                                   the in-program API's header (monitor.hpp)
#   lib/libjoulebench.so*           the in-program API for C++ (cmake/InProgram.cmake)
#   lib/cmake/joulebench/           find_package(joulebench): joulebench::meter, joulebench::events,
#                                   joulebench::torch_profile
#   lib/python3*/dist-packages/joulebench/   `import joulebench` for /usr/bin/python3
#   share/doc/joulebench/copyright
# Only what a user needs: tests and benchmarks have no install rules.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(JOULEBENCH_HELPER_DIR ${CMAKE_INSTALL_LIBEXECDIR}/joulebench)

install(TARGETS joulebench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS joulebench-cpu-load joulebench-container-start RUNTIME DESTINATION ${JOULEBENCH_HELPER_DIR})
install(FILES ${JOULEBENCH_PYTHON_HELPERS} DESTINATION ${JOULEBENCH_HELPER_DIR})
# The workloads in workloads/ install themselves into JOULEBENCH_HELPER_DIR, where they are built.

# Man pages and bash completion, written by the joulebench just built from its own command line
# (src/cli/generate.cpp), so they follow every option added or renamed. The folder is emptied
# first: a page of a removed command goes.
set(JOULEBENCH_MAN_DIR ${PROJECT_BINARY_DIR}/man)
set(JOULEBENCH_COMPLETION ${PROJECT_BINARY_DIR}/completion/joulebench)
add_custom_command(
  OUTPUT ${JOULEBENCH_MAN_DIR}/joulebench.1 ${JOULEBENCH_COMPLETION}
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${JOULEBENCH_MAN_DIR}
  COMMAND joulebench __generate man ${JOULEBENCH_MAN_DIR}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/completion
  COMMAND joulebench __generate bash-completion ${JOULEBENCH_COMPLETION}
  DEPENDS joulebench
  COMMENT "Writing the man pages and the bash completion"
  VERBATIM)
add_custom_target(joulebench_man_and_completion ALL DEPENDS ${JOULEBENCH_MAN_DIR}/joulebench.1 ${JOULEBENCH_COMPLETION})
install(DIRECTORY ${JOULEBENCH_MAN_DIR}/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 FILES_MATCHING PATTERN "*.1")
install(FILES ${JOULEBENCH_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)

# The header-only helpers a user's workload includes, as imported targets of find_package(joulebench).
# torch_profile.hpp includes trace_format.hpp beside it.
install(FILES include/joulebench/events.hpp include/joulebench/torch_profile.hpp include/joulebench/trace_format.hpp
              include/joulebench/monitor.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/joulebench)
install(TARGETS joulebench_meter_library EXPORT joulebenchTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        NAMELINK_COMPONENT Unspecified)
if(JOULEBENCH_PYTHON)
  if(JOULEBENCH_PYTHON_INSTALL_DIR)
    install(CODE "set(joulebench_python_dir \"${JOULEBENCH_PYTHON_INSTALL_DIR}\")")
  else()
    install(CODE "if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
                    set(joulebench_python_dir lib/python3/dist-packages)
                  else()
                    set(joulebench_python_dir ${JOULEBENCH_PYTHON_VERSIONED_DIR})
                  endif()")
  endif()
  install(TARGETS joulebench_python LIBRARY DESTINATION "\${joulebench_python_dir}/joulebench")
  install(FILES python/joulebench/__init__.py DESTINATION "\${joulebench_python_dir}/joulebench")
endif()
foreach(helper events torch_profile)
  add_library(joulebench_${helper}_header INTERFACE)
  set_target_properties(joulebench_${helper}_header PROPERTIES EXPORT_NAME ${helper})
  target_include_directories(joulebench_${helper}_header INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                                                    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(joulebench_${helper}_header INTERFACE cxx_std_17)
  install(TARGETS joulebench_${helper}_header EXPORT joulebenchTargets)
endforeach()
# Beside the library it names (architecture-dependent since libjoulebench).
set(JOULEBENCH_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/joulebench)
install(EXPORT joulebenchTargets NAMESPACE joulebench:: DESTINATION ${JOULEBENCH_CMAKE_DIR})
configure_package_config_file(cmake/joulebenchConfig.cmake.in ${PROJECT_BINARY_DIR}/joulebenchConfig.cmake
                              INSTALL_DESTINATION ${JOULEBENCH_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/joulebenchConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/joulebenchConfig.cmake ${PROJECT_BINARY_DIR}/joulebenchConfigVersion.cmake
        DESTINATION ${JOULEBENCH_CMAKE_DIR})

# Debian wants a copyright file in every package; it serves a plain install as well.
install(FILES cmake/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
