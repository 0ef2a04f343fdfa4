/* Writes fuzz seeds for the glibc target from this process's own malloc state: a heap with
 * a chunk of every kind (tcache, fastbin, unsorted, small and large bins, in use, top), a
 * thread arena in its own 64 MiB-aligned heap, and an mmapped chunk; then the memory image
 * (tests/fuzz/fuzz_common.h) of libc's writable data (main_arena, mp_), the [heap] up to
 * its top chunk, the thread heap up to its top chunk and the mmapped chunk's first page.
 *
 *   cc -O0 -fno-builtin -pthread glibc_seed.c -o glibc_seed && ./glibc_seed OUTDIR
 *
 * (-fno-builtin: the compiler must not drop malloc/free pairs it can see through)
 *
 * main_arena is found the classic way: a freed chunk alone in the unsorted bin points back
 * at its bin, 96 bytes into main_arena on x86-64. Nothing is allocated while dumping (maps
 * are read into a static buffer, the output written with write(2)), so the image is one
 * consistent state. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEAP_MAX (64ull << 20)

static char maps[1 << 16];
static uint8_t out[1 << 22];
static size_t outlen;

struct map {
    uint64_t start, end;
    char perms[5];
    char path[256];
};
static struct map table[512];
static size_t nmaps;

static void read_maps(void)
{
    int fd = open("/proc/self/maps", O_RDONLY);
    ssize_t n, len = 0;
    while ((n = read(fd, maps + len, sizeof(maps) - 1 - (size_t)len)) > 0) len += n;
    close(fd);
    maps[len] = 0;
    for (char *line = maps; *line && nmaps < 512;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        struct map *m = &table[nmaps++];
        unsigned long long s, e;
        int at = 0;
        sscanf(line, "%llx-%llx %4s %*s %*s %*s %n", &s, &e, m->perms, &at);
        m->start = s;
        m->end = e;
        snprintf(m->path, sizeof(m->path), "%s", at ? line + at : "");
        line = nl ? nl + 1 : line + strlen(line);
    }
}

static struct map *map_at(uint64_t addr)
{
    for (size_t i = 0; i < nmaps; i++)
        if (addr >= table[i].start && addr < table[i].end) return &table[i];
    return NULL;
}

static void put(const void *p, size_t n)
{
    memcpy(out + outlen, p, n);
    outlen += n;
}

static void region(uint64_t addr, uint32_t size, uint32_t datalen, uint8_t flags, const void *data)
{
    put(&addr, 8);
    put(&size, 4);
    put(&datalen, 4);
    put(&flags, 1);
    put(data, datalen);
}

static uint64_t main_arena, thread_arena, thread_ptr;
static void *mm;
static void *volatile sink;

/* An allocation kept for good (a guard between chunks that must not coalesce). */
static void *keep(size_t n)
{
    sink = malloc(n);
    return sink;
}

/* A word of freed memory: what malloc left there (the compiler must not assume it away). */
#if defined(__GNUC__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif
static __attribute__((noinline)) uint64_t freed_word(void *p)
{
    return *(volatile uint64_t *)p;
}

static void *thread_main(void *arg)
{
    (void)arg;
    void *p[8];
    for (int i = 0; i < 8; i++) p[i] = malloc(0x40 + 0x10 * (size_t)i);
    free(p[1]);
    free(p[3]);
    void *big = malloc(0x600);
    keep(0x20);
    free(big);
    thread_ptr = (uint64_t)(uintptr_t)p[0];
    thread_arena = *(uint64_t *)(uintptr_t)(thread_ptr & ~(HEAP_MAX - 1));
    return NULL;
}

static void build(void)
{
    /* Everything first, with guards between the chunks that must not coalesce. */
    void *probe = malloc(0x500);
    keep(0x18);
    void *s1 = malloc(0x1f8);
    keep(0x18);
    void *l1 = malloc(0x7f8);
    keep(0x18);
    void *u2 = malloc(0x4f8);
    keep(0x18);
    void *fill[7], *f[9], *t[3];
    for (int i = 0; i < 7; i++) fill[i] = malloc(0x1f8);
    for (int i = 0; i < 9; i++) f[i] = malloc(0x18);
    for (int i = 0; i < 3; i++) t[i] = malloc(0x28);
    keep(0x18);
    /* main_arena from the unsorted bin. */
    free(probe);
    main_arena = freed_word(probe) - 96;
    /* The 0x200 tcache bin full, then 0x200 and 0x800 chunks to the unsorted bin, sorted
     * into the small and large bins (with the probe) by a request none of them fits. */
    for (int i = 0; i < 7; i++) free(fill[i]);
    free(s1);
    free(l1);
    keep(0x1000);
    free(u2); /* stays in the unsorted bin */
    mm = malloc(512 << 10); /* mmapped */
    pthread_t th;
    pthread_create(&th, NULL, thread_main, NULL);
    pthread_join(th, NULL);
    /* Nine 0x20 chunks: seven fill the tcache, two go to the fastbin; three 0x30 ones to
     * the tcache. Last: creating the thread allocates, and a large request would
     * consolidate the fastbins. */
    for (int i = 0; i < 9; i++) free(f[i]);
    for (int i = 0; i < 3; i++) free(t[i]);
}

static void write_image(const char *dir, const char *name, uint8_t selector, uint64_t given_arena)
{
    outlen = 0;
    put(&selector, 1);
    uint64_t header[2] = {given_arena, 0};
    region(0x10000, 16, 16, 1 | 2, header);
    /* libc's writable data and the anonymous mapping after it (.bss). */
    for (size_t i = 0; i < nmaps; i++) {
        struct map *m = &table[i];
        if (!strstr(m->path, "libc.so.6") || m->perms[1] != 'w') continue;
        region(m->start, (uint32_t)(m->end - m->start), (uint32_t)(m->end - m->start), 1 | 2 | (3 << 3),
               (void *)(uintptr_t)m->start);
        struct map *next = i + 1 < nmaps ? &table[i + 1] : NULL;
        if (next && next->start == m->end && !next->path[0])
            region(next->start, (uint32_t)(next->end - next->start),
                   (uint32_t)(next->end - next->start), 1 | 2, (void *)(uintptr_t)next->start);
    }
    /* [heap] up to its top chunk's header. */
    uint64_t top = *(uint64_t *)(uintptr_t)(main_arena + 96);
    struct map *h = map_at(top);
    region(h->start, (uint32_t)(h->end - h->start), (uint32_t)(top + 32 - h->start), 1 | 2 | (1 << 3),
           (void *)(uintptr_t)h->start);
    /* The thread heap (heap_info, its arena, chunks) up to its top chunk's header. */
    uint64_t ttop = *(uint64_t *)(uintptr_t)(thread_arena + 96);
    uint64_t hi = thread_ptr & ~(HEAP_MAX - 1);
    struct map *th = map_at(hi);
    region(hi, (uint32_t)(th->end - hi), (uint32_t)(ttop + 32 - hi), 1 | 2, (void *)(uintptr_t)hi);
    /* The mmapped chunk: its header page. */
    uint64_t chunk = (uint64_t)(uintptr_t)mm - 16;
    struct map *mmap_map = map_at(chunk);
    region(chunk, (uint32_t)(mmap_map->end - chunk), 4096, 1 | 2, (void *)(uintptr_t)chunk);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, out, outlen) != (ssize_t)outlen) {
        perror(path);
        exit(1);
    }
    close(fd);
    printf("%s: %zu bytes (main_arena 0x%llx)\n", name, outlen, (unsigned long long)main_arena);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0); /* printing must not allocate between the images */
    build();
    read_maps();
    /* selector bits 0-2: 0 unknown, 1 2.28, 2 2.29, 3 2.31, 4 2.32, 5 2.34, 6 2.35, 7 2.36 */
    write_image(argv[1], "glibc-2.36-given.bin", 7, main_arena);
    write_image(argv[1], "glibc-2.36-scan.bin", 7, 0);
    write_image(argv[1], "glibc-unknown-version.bin", 0, main_arena);
    write_image(argv[1], "glibc-as-2.31.bin", 3, main_arena);
    write_image(argv[1], "glibc-as-2.29.bin", 2, 0);
    write_image(argv[1], "glibc-2.36-no-heuristics.bin", 7 | 8 | 16, 0);
    return 0;
}
