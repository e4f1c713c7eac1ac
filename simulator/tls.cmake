# tls.cmake: mbed TLS 2.28 for TLS mode on the MEP port (simulator/mep/sim_tls.c,
# firmware/host/host_tls.c, tests/unit/test_tls.c, tests/fuzz/fuzz_tls.c).
#
# Debian's libmbedtls-dev ships no .pc file, so the three libraries are found
# by name and wrapped in one global interface target, `mep_mbedtls`, that
# also defines MEP_HAVE_MBEDTLS=1 for its users and brings mep_tlsbio (the
# transport both ends hand to mbed TLS, proto/mep_tlsbio.c: not freestanding,
# so not part of mepproto). If mepsim_mep exists it is
# linked (PUBLIC) so every emulator library above it, test and fuzzer gets
# mbed TLS.
#
# Use: in simulator/CMakeLists.txt, after add_library(mepsim_mep ...):
#   include(${CMAKE_CURRENT_LIST_DIR}/tls.cmake)
# and, once mepmod builds host_tls.c (firmware/host/CMakeLists.txt):
#   target_link_libraries(mepmod PRIVATE mep_mbedtls)
if(NOT TARGET mep_mbedtls)
  find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h REQUIRED)
  find_library(MBEDTLS_LIBRARY mbedtls REQUIRED)
  find_library(MBEDX509_LIBRARY mbedx509 REQUIRED)
  find_library(MBEDCRYPTO_LIBRARY mbedcrypto REQUIRED)
  add_library(mep_tlsbio STATIC ${CMAKE_SOURCE_DIR}/proto/mep_tlsbio.c)
  target_include_directories(mep_tlsbio PUBLIC ${CMAKE_SOURCE_DIR}/proto ${MBEDTLS_INCLUDE_DIR})
  set_target_properties(mep_tlsbio PROPERTIES POSITION_INDEPENDENT_CODE ON)
  add_library(mep_mbedtls INTERFACE IMPORTED GLOBAL)
  # Order matters for static archives: tls -> x509 -> crypto.
  set_target_properties(mep_mbedtls PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${MBEDTLS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "mep_tlsbio;${MBEDTLS_LIBRARY};${MBEDX509_LIBRARY};${MBEDCRYPTO_LIBRARY}"
    INTERFACE_COMPILE_DEFINITIONS "MEP_HAVE_MBEDTLS=1")
endif()
if(TARGET mepsim_mep)
  target_link_libraries(mepsim_mep PUBLIC mep_mbedtls)
endif()
