# The Debian package: `cpack -G DEB` in the build folder writes joulebench_VERSION_ARCH.deb of what
# `cmake --install` installs (cmake/Install.cmake), under /usr, stripped. scripts/package-check
# builds it, installs it and runs the installed joulebench.
set(JOULEBENCH_MAINTAINER "joulebench maintainers <maintainers@users.noreply.r-seed-07963a73.example>"
    CACHE STRING "The Debian package's Maintainer field")

set(CPACK_PACKAGE_NAME joulebench)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "measure the energy and time of deep-learning workloads")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${JOULEBENCH_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The long description; CPack puts the summary above it. Lines under 80 columns, as Debian wants.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "joulebench runs a command, or a campaign of workloads described by a TOML
plan, and records the energy it cost per domain (RAPL, NVML or a labelled
estimate) and its times in a SQLite store. It compares frameworks with
statistical tests, profiles functions, and writes tables and an HTML report.
It comes with NCF, Transformer and ResNet workloads in LibTorch, PyTorch and
dlib. A program measures parts of itself with the same meter through the
in-program API: libjoulebench for C++, the joulebench module for Python 3.
License: Apache-2.0.")

# The in-program API's library (libjoulebench.so.0, cmake/InProgram.cmake): a shlibs file, so that
# a package built against it depends on this one at this version exactly (0.x keeps no ABI between
# releases), and, as the library is under /usr/lib, CPack's postinst and postrm run ldconfig.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY "=")

# Depends: the libraries of joulebench and of the helpers every plan can use (joulebench-cpu-load,
# joulebench-data). Debian 12's names and the versions dpkg-shlibdeps asks for; scripts/package-check
# fails if dpkg-shlibdeps ever asks for one not listed.
set(depends "libc6 (>= 2.34)" "libgcc-s1 (>= 3.0)" "libstdc++6 (>= 11)" "zlib1g (>= 1:1.1.4)")
if(NOT JOULEBENCH_PORTABLE)
  list(APPEND depends "libcsv3 (>= 3.0.3)" "libpcre2-8-0 (>= 10.22)" "libsqlite3-0 (>= 3.20.0)")
endif()
# Recommends: the built-in workloads' frameworks and data, and the report's figures. Without them
# joulebench works and `joulebench workload --list` says which workloads are not available.
set(recommends python3 python3-torch python3-numpy libopenblas0-pthread dataset-fashion-mnist gnuplot-nox)
if(TARGET joulebench-libtorch)
  list(APPEND recommends libtorch1.13)
endif()
if(TARGET joulebench-dlib)
  list(APPEND recommends libdlib19.1)
endif()
list(JOIN depends ", " CPACK_DEBIAN_PACKAGE_DEPENDS)
list(JOIN recommends ", " CPACK_DEBIAN_PACKAGE_RECOMMENDS)
# Suggests: function profiles of native code (`joulebench profile --mode perf`).
set(CPACK_DEBIAN_PACKAGE_SUGGESTS linux-perf)

include(CPack)
