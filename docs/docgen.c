/* pyheap-docgen KIND FILE: writes a document made from the verb table (the man page
 * py-heap(1), or the bash, zsh or fish completion) to FILE, for the build. */
#include <stdio.h>

#include "pyheap.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: pyheap-docgen man|bash|zsh|fish FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "w");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    struct pyh_error *err = pyh_command_write_document(argv[1], f);
    if (fclose(f) != 0 && !err) {
        perror(argv[2]);
        return 1;
    }
    if (err) {
        fprintf(stderr, "pyheap-docgen: %s\n", pyh_error_message(err));
        pyh_error_free(err);
        remove(argv[2]);
        return 1;
    }
    return 0;
}
