# The in-program API (include/joulebench/monitor.hpp, docs/in-program.md):
#   libjoulebench.so       the monitor part and what it builds on, for C++ programs:
#                          find_package(joulebench) gives it as joulebench::meter
#   python/joulebench/     the package `import joulebench` (PYTHONPATH=build/python): its Python
#                          layer (python/joulebench/__init__.py) over the compiled _joulebench module
#                          (python/binding.cpp, pybind11), built for Debian's /usr/bin/python3.

# No sources of its own: the monitor part whole, and what it uses from the other parts.
add_library(joulebench_meter_library SHARED ${PROJECT_SOURCE_DIR}/include/joulebench/monitor.hpp)
target_link_libraries(joulebench_meter_library PRIVATE $<LINK_LIBRARY:WHOLE_ARCHIVE,joulebench_monitor>)
target_include_directories(joulebench_meter_library INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                                              $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(joulebench_meter_library INTERFACE cxx_std_17)
set_target_properties(joulebench_meter_library PROPERTIES
  LINKER_LANGUAGE CXX OUTPUT_NAME joulebench VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR} EXPORT_NAME meter)
# Only joulebench's own symbols are the library's: the fmt, JSON and standard-library code it
# carries inside stays its own. Libraries a part links but the monitor never calls (PCRE2) are
# not needed.
target_link_options(joulebench_meter_library PRIVATE -Wl,--as-needed
                    -Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/libjoulebench.map)
set_property(TARGET joulebench_meter_library APPEND PROPERTY LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/libjoulebench.map)

if(JOULEBENCH_PYTHON)
  # Debian's interpreter, whatever `python3` is first on PATH: its modules (torch) are what the
  # workloads use, and the module's ABI must be its.
  set(Python_EXECUTABLE /usr/bin/python3 CACHE FILEPATH "The Python the module is built for")
  set(PYBIND11_FINDPYTHON ON)
  find_package(Python 3.7 REQUIRED COMPONENTS Interpreter Development.Module)
  find_package(pybind11 2.6 CONFIG REQUIRED)
  set(JOULEBENCH_PYTHON_PACKAGE ${PROJECT_BINARY_DIR}/python/joulebench)
  pybind11_add_module(joulebench_python MODULE python/binding.cpp)
  target_link_libraries(joulebench_python PRIVATE joulebench_monitor)
  target_compile_options(joulebench_python PRIVATE ${JOULEBENCH_WARNINGS})
  set_target_properties(joulebench_python PROPERTIES OUTPUT_NAME _joulebench
                                                     LIBRARY_OUTPUT_DIRECTORY ${JOULEBENCH_PYTHON_PACKAGE})
  configure_file(python/joulebench/__init__.py ${JOULEBENCH_PYTHON_PACKAGE}/__init__.py COPYONLY)

  # Where /usr/bin/python3 finds it: Debian's dist-packages of the prefix, chosen when installing
  # (cpack installs under /usr whatever the build was configured for): lib/python3/dist-packages
  # under /usr, lib/python3.X/dist-packages under any other prefix. A path set here wins.
  set(JOULEBENCH_PYTHON_INSTALL_DIR "" CACHE STRING "Where `cmake --install` puts the Python package (empty: as Debian's python3 looks)")
  set(JOULEBENCH_PYTHON_VERSIONED_DIR lib/python${Python_VERSION_MAJOR}.${Python_VERSION_MINOR}/dist-packages)
endif()
