# Install rules and the Debian package (CPack's DEB generator), included from
# CMakeLists.txt. `scripts/package.sh` builds build-pkg/ and runs cpack;
# tests/package_test.sh packages the build under test and checks the .deb.
#
# What is installed (paths under CMAKE_INSTALL_PREFIX, /usr in the .deb):
#   bin/bgctl
#   share/man/man1/bgctl.1.gz                  help2man from `bgctl --help-all`
#   share/bash-completion/completions/bgctl    from `bgctl --help-all`
#   share/bgctl/nginx/                         nginx/: *.conf *.template lua/*.lua README.md
#   share/bgctl/scripts/nginx-prefix.sh        renders share/bgctl/nginx into a prefix
#   share/doc/bgctl/{copyright,changelog.gz,README.md,examples/}
#   share/doc/bgctl/docs/                      docs/*.md (the reference, as it
#                                              grows)
# backend-sample, the tests and the benchmarks are never installed.
#
# `cmake --install` installs what was built and builds nothing itself
# (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY, so that cpack in a test does not build
# every target): build `bgctl` and `bgctl-docs` first.
include(GNUInstallDirs)
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

find_program(HELP2MAN help2man)
find_program(GZIP gzip)
if(NOT HELP2MAN OR NOT GZIP)
  message(FATAL_ERROR "help2man and gzip are needed for the man page: "
                      "scripts/install-deps.sh installs them")
endif()

# What bgctl is: the package's synopsis and extended description, and the
# man page's NAME and DESCRIPTION.
set(BGCTL_SUMMARY "zero-downtime blue/green and canary deploys behind nginx")
set(BGCTL_DESCRIPTION
"bgctl deploys a new version of a service that sits behind nginx on one host
without dropping a request: it starts the version in the free slot (blue or
green), waits until it is healthy, shifts traffic to it step by step by
rewriting an nginx upstream file (or through nginx's Lua module), reads
nginx's access log to compare the canary's errors and latency with the stable
version's, rolls back by itself on evidence, and at 100% drains the old
instance. Operators pause, step, promote, abort and roll back.
Backends run as processes or as systemd units.")
# help2man's include file: packaging/bgctl.h2m after that DESCRIPTION
# (help2man puts it above the first line of --help).
file(READ ${CMAKE_SOURCE_DIR}/packaging/bgctl.h2m BGCTL_H2M)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             packaging/bgctl.h2m)
file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/bgctl.h2m
     CONTENT "[DESCRIPTION]\n${BGCTL_DESCRIPTION}\n\n${BGCTL_H2M}" @ONLY)

# The man page and the bash completion are made from the built binary's own
# --help-all, so neither can drift from the command table or the flags.
set(BGCTL_MAN ${CMAKE_BINARY_DIR}/bgctl.1)
set(BGCTL_COMPLETION ${CMAKE_BINARY_DIR}/bgctl.bash-completion)
set(BGCTL_CHANGELOG_GZ ${CMAKE_BINARY_DIR}/changelog.gz)
# The man page's date is the changelog's, not the build's (reproducible;
# help2man reads SOURCE_DATE_EPOCH).
execute_process(
  COMMAND dpkg-parsechangelog -l ${CMAKE_SOURCE_DIR}/packaging/changelog
          -S Timestamp
  OUTPUT_VARIABLE BGCTL_CHANGELOG_EPOCH OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             packaging/changelog)
# In a sanitizer build (build-san/) bgctl runs here under ASan: a leak
# report at exit would fail the docs, which are not what that build checks.
set(BGCTL_MAN_ENV ASAN_OPTIONS=detect_leaks=0)
if(BGCTL_CHANGELOG_EPOCH MATCHES "^[0-9]+$")
  list(APPEND BGCTL_MAN_ENV SOURCE_DATE_EPOCH=${BGCTL_CHANGELOG_EPOCH})
endif()
add_custom_command(
  OUTPUT ${BGCTL_MAN}.gz
  COMMAND ${CMAKE_COMMAND} -E env ${BGCTL_MAN_ENV}
          ${HELP2MAN} --no-info --section=1 --help-option=--help-all
          --version-option=--version
          --name=${BGCTL_SUMMARY} --include=${CMAKE_BINARY_DIR}/bgctl.h2m
          --output=${BGCTL_MAN} $<TARGET_FILE:bgctl>
  COMMAND ${GZIP} -9nf ${BGCTL_MAN}
  DEPENDS bgctl ${CMAKE_BINARY_DIR}/bgctl.h2m
  COMMENT "help2man: bgctl.1.gz"
  VERBATIM)
add_custom_command(
  OUTPUT ${BGCTL_COMPLETION}
  COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0
          ${CMAKE_SOURCE_DIR}/packaging/gen-completion.sh $<TARGET_FILE:bgctl>
          ${BGCTL_COMPLETION}
  DEPENDS bgctl ${CMAKE_SOURCE_DIR}/packaging/gen-completion.sh
  COMMENT "bash completion from bgctl --help-all"
  VERBATIM)
add_custom_command(
  OUTPUT ${BGCTL_CHANGELOG_GZ}
  COMMAND ${GZIP} -9nc ${CMAKE_SOURCE_DIR}/packaging/changelog
          > ${BGCTL_CHANGELOG_GZ}
  DEPENDS ${CMAKE_SOURCE_DIR}/packaging/changelog
  VERBATIM)
add_custom_target(bgctl-docs ALL
  DEPENDS ${BGCTL_MAN}.gz ${BGCTL_COMPLETION} ${BGCTL_CHANGELOG_GZ})

# The package is native (no Debian revision): its changelog must name the
# project's version in its first entry.
file(STRINGS ${CMAKE_SOURCE_DIR}/packaging/changelog BGCTL_CHANGELOG_TOP
     LIMIT_COUNT 1)
if(NOT BGCTL_CHANGELOG_TOP MATCHES "^bgctl \\(${PROJECT_VERSION}\\) ")
  message(FATAL_ERROR "packaging/changelog: the first entry must be "
                      "\"bgctl (${PROJECT_VERSION}) ...\" (project VERSION), "
                      "found \"${BGCTL_CHANGELOG_TOP}\"")
endif()

install(TARGETS bgctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${BGCTL_MAN}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${BGCTL_COMPLETION}
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME bgctl)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/nginx/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bgctl/nginx
        FILES_MATCHING PATTERN "*.conf" PATTERN "*.template" PATTERN "*.lua"
                       PATTERN "README.md")
install(PROGRAMS ${CMAKE_SOURCE_DIR}/scripts/nginx-prefix.sh
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bgctl/scripts)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/copyright ${BGCTL_CHANGELOG_GZ}
              ${CMAKE_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs
        FILES_MATCHING PATTERN "*.md")
install(FILES ${CMAKE_SOURCE_DIR}/packaging/examples/bgctl.yaml
              ${CMAKE_SOURCE_DIR}/docs/github-actions-deploy.yml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

set(BGCTL_MAINTAINER "bgctl team <bgctl@example.invalid>"
    CACHE STRING "the Maintainer field of the Debian package")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME bgctl)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${BGCTL_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${BGCTL_MAINTAINER})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # bgctl_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nginx, libnginx-mod-http-lua")
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_STRIP_FILES ON)  # the binary is stripped in the package only
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
    WORLD_READ WORLD_EXECUTE)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${BGCTL_SUMMARY}")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "${BGCTL_DESCRIPTION}")
include(CPack)
