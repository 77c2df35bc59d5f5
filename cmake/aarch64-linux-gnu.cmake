# Cross-builds for 64-bit ARM Linux with Debian's aarch64 toolchain (g++-aarch64-linux-gnu) and
# multiarch arm64 libraries (dpkg --add-architecture arm64; the :arm64 -dev packages). ctest runs
# the tests under qemu-aarch64, whose CPU model QEMU_CPU picks (scripts/test-arm.sh).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(triple aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${triple}-gcc)
set(CMAKE_CXX_COMPILER ${triple}-g++)
# Multiarch puts arm64 libraries in /usr/lib/aarch64-linux-gnu and headers in /usr/include, which
# is why the root path is / and not a separate sysroot; pkg-config reads the arm64 .pc files only.
set(CMAKE_LIBRARY_ARCHITECTURE ${triple})
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${triple}/pkgconfig:/usr/share/pkgconfig)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
find_program(QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${QEMU_AARCH64} -L /usr/${triple})
