// The queue module is header-only templates (queue/basic_queue.hpp and the stores under
// it); this source compiles its headers once so that their errors show here.
#include "pyconc/queue.hpp"
