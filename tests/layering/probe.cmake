# Drives cmake/JoulebenchParts.cmake's include check on a probe file: part 'sensors' includes the
# header of part 'report'; USES says whether sensors may. Run by ctest (tests/CMakeLists.txt).
cmake_minimum_required(VERSION 3.25)
include(${SOURCE}/cmake/JoulebenchParts.cmake)
set_property(GLOBAL APPEND PROPERTY JOULEBENCH_ALL_PARTS sensors report)
set_property(GLOBAL PROPERTY JOULEBENCH_PART_sensors_HEADERS sensors)
set_property(GLOBAL PROPERTY JOULEBENCH_PART_report_HEADERS report)
file(WRITE ${WORK}/probe.cpp "#include \"joulebench/sensors.hpp\"\n#include \"joulebench/report.hpp\"\n")
joulebench_check_includes(sensors ${WORK}/probe.cpp "${USES}")
message(STATUS "layering: the probe's includes are allowed")
