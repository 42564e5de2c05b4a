// settee.h must compile as C++ (extern "C", no C-only syntax).
#include "settee.h"
static_assert(SETTEE_OK == 0, "SETTEE_OK is zero");
int main() { return settee_version_number() == SETTEE_VERSION_NUMBER ? 0 : 1; }
