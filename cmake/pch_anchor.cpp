// Anchor source of the executables precompiled-header target (see CMakeLists.txt).
