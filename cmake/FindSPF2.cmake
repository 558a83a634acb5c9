# libspf2 ships neither a .pc file nor a CMake config on Debian 12; the library lives in /usr/lib.
find_path(SPF2_INCLUDE_DIR spf2/spf.h)
find_library(SPF2_LIBRARY spf2)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(SPF2 REQUIRED_VARS SPF2_INCLUDE_DIR SPF2_LIBRARY)
if(SPF2_FOUND AND NOT TARGET SPF2::SPF2)
  add_library(SPF2::SPF2 UNKNOWN IMPORTED)
  set_target_properties(SPF2::SPF2 PROPERTIES
    IMPORTED_LOCATION "${SPF2_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SPF2_INCLUDE_DIR}")
endif()
