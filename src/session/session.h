/* A session: one open target with its images and runtime, and the diagnostics gathered
 * about it. The object behind the public `struct pyh_session`. */
#ifndef PYH_SESSION_SESSION_H
#define PYH_SESSION_SESSION_H

#include "image/image.h"
#include "runtime/runtime.h"
#include "target/target.h"
#include "util/diag.h"

struct pyh_session {
    struct pyh_diag diag;
    struct pyh_target *target;
    struct pyh_images *images;
    struct pyh_runtime *runtime;
    char *core_path; /* the core file, NULL for other targets */
};

#endif
