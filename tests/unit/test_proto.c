#include "config.h"
#include <stdlib.h>
int main(void) { return EXIT_FAILURE; }
