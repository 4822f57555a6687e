/* Arrays that grow as items are appended (PyMem_RawRealloc, doubling), shared by the
 * modules that collect an unknown number of results (outline_module.c, pieces_module.c).
 * Include after Python.h. */
#ifndef ROADMARK_GROWING_H
#define ROADMARK_GROWING_H

/* items (capacity items of size bytes) with room for needed items: items itself, or a
 * larger copy (capacity updated, first items at the start), or NULL without memory (items
 * and capacity as they were). */
static void *
grown(void *items, Py_ssize_t *capacity, Py_ssize_t needed, size_t size, Py_ssize_t first)
{
    if (needed <= *capacity) {
        return items;
    }
    Py_ssize_t larger = *capacity ? *capacity : first;
    while (larger < needed) {
        larger *= 2;
    }
    void *copy = PyMem_RawRealloc(items, (size_t)larger * size);
    if (copy != NULL) {
        *capacity = larger;
    }
    return copy;
}

#endif
