# Finds every third-party library toonreid links. All come from Debian packages
# (see scripts/install_deps.sh); a CUDA build points CMAKE_PREFIX_PATH at another LibTorch.
find_package(Torch REQUIRED)
find_package(Threads REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(PNG REQUIRED)
find_package(SQLite3 REQUIRED)

pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)

# OpenCV: only core and imgproc. Debian ships OpenCVConfig.cmake only with the
# full libopencv-dev (which pulls imgcodecs and GDAL), so find the two modules directly.
find_path(OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
find_library(OPENCV_CORE_LIB opencv_core REQUIRED)
find_library(OPENCV_IMGPROC_LIB opencv_imgproc REQUIRED)
add_library(toonreid_opencv INTERFACE)
target_include_directories(toonreid_opencv SYSTEM INTERFACE ${OPENCV_INCLUDE_DIR})
target_link_libraries(toonreid_opencv INTERFACE ${OPENCV_IMGPROC_LIB} ${OPENCV_CORE_LIB})

# FAISS (static, Debian's libfaiss-dev): approximate neighbours for re-ranking at scale.
find_package(OpenMP REQUIRED)
find_package(faiss REQUIRED)

# Gloo (libgloo-dev): c10d's CPU backend; libtorch links it, toonreid needs its headers and symbols
# for ProcessGroupGloo's inline parts.
find_path(GLOO_INCLUDE_DIR gloo/algorithm.h REQUIRED)
find_library(GLOO_LIB NAMES gloo REQUIRED)

# cpp-httplib (Debian builds it as a shared library: the header only declares). The library
# is compiled with TLS, zlib and brotli support, and those macros change the size of its
# classes: every file that includes httplib.h must see the same ones (pkg-config's Cflags),
# or our code and the library disagree on an object's layout (an httplib::Client on our
# stack, constructed by the library, wrote past its end into its neighbours).
pkg_check_modules(CPP_HTTPLIB REQUIRED cpp-httplib)
find_library(CPP_HTTPLIB_LIB NAMES cpp-httplib REQUIRED)
# Gives those flags to every source of the list that includes httplib.h.
function(toonreid_uses_httplib)
  foreach(source ${ARGN})
    file(STRINGS ${source} includes_httplib REGEX "#include <httplib.h>")
    if(includes_httplib)
      set_property(SOURCE ${source} APPEND PROPERTY COMPILE_OPTIONS ${CPP_HTTPLIB_CFLAGS_OTHER})
    endif()
  endforeach()
endfunction()

# dlib: the HOG face detector and 68-point shape predictor of the face chain's second path.
find_package(dlib REQUIRED)
