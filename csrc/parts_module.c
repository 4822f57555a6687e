/* roadmark.analysis.fast_parts: the 4-connected parts of a label image (pixels of one
 * nonzero label joined through their edge neighbours), numbered 1, 2, ... in the raster
 * order of each part's first pixel: the numbering OpenCV's 4-connected labelling gives a
 * binary mask, here for many labels in one pass (roadmark.analysis.pixel_outline otherwise
 * labels a grid of twice the resolution with link cells between equal neighbours).
 *
 * One raster scan with union-find: a pixel takes the provisional label of the neighbour
 * above or to the left that has its value (joining the two where both do), or a new one.
 * Every set's root is its smallest provisional label, the first one made in it, so
 * numbering the roots in order numbers the parts by their first pixels.
 *
 * Also the counting that roadmark.analysis.pixel_counts does with it: pixels per owner and
 * level of a uint8 map (count_levels) and the boxes of a label image's labels (part_boxes).
 *
 * Built by setup.py as an optional extension: where it does not build, pixel_outline
 * labels the grid with OpenCV, and pixel_counts counts with OpenCV.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "part_order.h"


/* height x width pixels with room for one 32-bit label each, twice over */
static int
sizes_fit(Py_ssize_t height, Py_ssize_t width)
{
    return height >= 0 && width >= 0 && height <= INT32_MAX && width <= INT32_MAX &&
           (width == 0 || height <= INT32_MAX / 2 / width);
}

static inline int32_t
root_of(int32_t *parent, int32_t label)
{
    while (parent[label] != label) {
        parent[label] = parent[parent[label]]; /* halve the path */
        label = parent[label];
    }
    return label;
}

#define SCAN(TYPE)                                                                         \
    do {                                                                                   \
        const TYPE *values = (const TYPE *)source;                                         \
        for (Py_ssize_t y = 0; y < height; y++) {                                          \
            const TYPE *row = values + y * width;                                          \
            const TYPE *above = row - width;                                               \
            int32_t *out = parts + y * width;                                              \
            int32_t *out_above = out - width;                                              \
            for (Py_ssize_t x = 0; x < width; x++) {                                       \
                TYPE value = row[x];                                                       \
                if (value == 0) {                                                          \
                    out[x] = 0;                                                            \
                    continue;                                                              \
                }                                                                          \
                int32_t up = (y > 0 && above[x] == value) ? out_above[x] : 0;              \
                int32_t left = (x > 0 && row[x - 1] == value) ? out[x - 1] : 0;            \
                if (up == 0 && left == 0) {                                                \
                    parent[next] = next;                                                   \
                    out[x] = next++;                                                       \
                } else if (up == 0 || left == 0 || up == left) {                           \
                    out[x] = up ? up : left;                                               \
                } else {                                                                   \
                    int32_t a = root_of(parent, up), b = root_of(parent, left);            \
                    int32_t low = a < b ? a : b;                                           \
                    parent[a] = parent[b] = low;                                           \
                    out[x] = low;                                                          \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    } while (0)

static PyObject *
label_parts(PyObject *module, PyObject *args)
{
    Py_buffer labels, target;
    PyObject *labels_object;
    Py_ssize_t itemsize, height, width;
    (void)module;
    if (!PyArg_ParseTuple(args, "Onnnw*:label_parts", &labels_object, &itemsize, &height,
                          &width, &target)) {
        return NULL;
    }
    if (PyObject_GetBuffer(labels_object, &labels, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&target);
        return NULL;
    }
    const char *problem = NULL;
    if (itemsize != 1 && itemsize != 2 && itemsize != 4) {
        problem = "labels of 1, 2 or 4 bytes only";
    } else if (labels.itemsize != itemsize) {
        problem = "the labels' item size is not itemsize";
    } else if (!sizes_fit(height, width)) {
        problem = "height or width out of range";
    } else if (labels.len != height * width * itemsize) {
        problem = "the labels are not height x width values";
    } else if (target.len != height * width * (Py_ssize_t)sizeof(int32_t)) {
        problem = "the output is not height x width 32-bit integers";
    }
    if (problem != NULL) {
        PyBuffer_Release(&labels);
        PyBuffer_Release(&target);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    /* a provisional label per pixel at most (two labels in a checkerboard), and 0 */
    Py_ssize_t most = height * width + 1;
    int32_t *parent = PyMem_RawMalloc((size_t)most * sizeof(int32_t));
    if (parent == NULL) {
        PyBuffer_Release(&labels);
        PyBuffer_Release(&target);
        return PyErr_NoMemory();
    }
    const void *source = labels.buf;
    int32_t *parts = target.buf;
    int32_t next = 1, count = 0;
    Py_BEGIN_ALLOW_THREADS
    if (itemsize == 1) {
        SCAN(uint8_t);
    } else if (itemsize == 2) {
        SCAN(uint16_t);
    } else {
        SCAN(int32_t);
    }
    /* number the roots in order (a root is the smallest label of its set); a label's
     * parent is never larger than the label, so it is numbered by then */
    parent[0] = 0;
    for (int32_t label = 1; label < next; label++) {
        parent[label] = parent[label] == label ? ++count : parent[parent[label]];
    }
    for (Py_ssize_t i = 0; i < height * width; i++) {
        parts[i] = parent[parts[i]];
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(parent);
    PyBuffer_Release(&labels);
    PyBuffer_Release(&target);
    return PyLong_FromLong(count);
}

static PyObject *
ordered_parts(PyObject *module, PyObject *args)
{
    Py_buffer values, target;
    PyObject *values_object, *anchors_object;
    Py_ssize_t height, width, kinds;
    Py_buffer anchors = {0};
    (void)module;
    if (!PyArg_ParseTuple(args, "OnnnOw*:ordered_parts", &values_object, &height, &width,
                          &kinds, &anchors_object, &target)) {
        return NULL;
    }
    if (PyObject_GetBuffer(values_object, &values, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&target);
        return NULL;
    }
    int explicit = anchors_object != Py_None;
    if (explicit && PyObject_GetBuffer(anchors_object, &anchors,
                                       PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&values);
        PyBuffer_Release(&target);
        return NULL;
    }
    const char *problem = NULL;
    if (values.itemsize != 2 || (explicit && anchors.itemsize != 4)) {
        problem = "values of 2 bytes and anchors of 4 bytes only";
    } else if (!sizes_fit(height, width)) {
        problem = "height or width out of range";
    } else if (kinds < 1 || kinds > 65535) {
        problem = "values must be 1 to 65535";
    } else if (values.len != height * width * 2) {
        problem = "the values are not height x width 16-bit integers";
    } else if (target.len != height * width * (Py_ssize_t)sizeof(int32_t)) {
        problem = "the output is not height x width 32-bit integers";
    } else if (explicit && anchors.len != (kinds + 1) * 2 * (Py_ssize_t)sizeof(int32_t)) {
        problem = "the anchors are not (values + 1) x 2 32-bit integers";
    }
    if (problem != NULL) {
        if (explicit) {
            PyBuffer_Release(&anchors);
        }
        PyBuffer_Release(&values);
        PyBuffer_Release(&target);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    Py_ssize_t pixels = height * width;
    int32_t *parent = PyMem_RawMalloc((size_t)(pixels + 1) * sizeof(int32_t));
    int32_t *anchor = PyMem_RawMalloc((size_t)(kinds + 1) * 2 * sizeof(int32_t));
    Part *parts = NULL;
    int32_t *rank = NULL;
    if (parent == NULL || anchor == NULL) {
        PyMem_RawFree(parent);
        PyMem_RawFree(anchor);
        if (explicit) {
            PyBuffer_Release(&anchors);
        }
        PyBuffer_Release(&values);
        PyBuffer_Release(&target);
        return PyErr_NoMemory();
    }
    const uint16_t *value = values.buf;
    int32_t *out = target.buf;
    int32_t next = 1, count = 0;
    int bad = 0; /* 1: a value above the count, 2: no memory */
    Py_BEGIN_ALLOW_THREADS
    if (explicit) {
        memcpy(anchor, anchors.buf, (size_t)(kinds + 1) * 2 * sizeof(int32_t));
    } else { /* each value's box corner: its smallest row and its smallest column */
        for (Py_ssize_t k = 0; k <= kinds; k++) {
            anchor[2 * k] = INT32_MAX;
            anchor[2 * k + 1] = INT32_MAX;
        }
    }
    for (Py_ssize_t y = 0; y < height && !bad; y++) {
        const uint16_t *row = value + y * width;
        const uint16_t *above = row - width;
        int32_t *line = out + y * width;
        int32_t *line_above = line - width;
        for (Py_ssize_t x = 0; x < width; x++) {
            uint16_t v = row[x];
            if (v == 0) {
                line[x] = 0;
                continue;
            }
            if (v > kinds) {
                bad = 1;
                break;
            }
            if (!explicit) {
                if (anchor[2 * v] > y) {
                    anchor[2 * v] = (int32_t)y;
                }
                if (anchor[2 * v + 1] > x) {
                    anchor[2 * v + 1] = (int32_t)x;
                }
            }
            /* the neighbours already labelled: left, upper left, above, upper right */
            int32_t found[4];
            int n = 0;
            if (x > 0 && row[x - 1] == v) {
                found[n++] = line[x - 1];
            }
            if (y > 0) {
                if (x > 0 && above[x - 1] == v) {
                    found[n++] = line_above[x - 1];
                }
                if (above[x] == v) {
                    found[n++] = line_above[x];
                }
                if (x + 1 < width && above[x + 1] == v) {
                    found[n++] = line_above[x + 1];
                }
            }
            if (n == 0) {
                parent[next] = next;
                line[x] = next++;
                continue;
            }
            int32_t low = root_of(parent, found[0]);
            for (int i = 1; i < n; i++) {
                int32_t other = root_of(parent, found[i]);
                if (other != low) {
                    int32_t keep = other < low ? other : low;
                    parent[other] = parent[low] = keep;
                    low = keep;
                }
            }
            line[x] = low;
        }
    }
    if (!bad) {
        /* the roots numbered 1.. in order (a label's parent is never larger than it) */
        parent[0] = 0;
        for (int32_t label = 1; label < next; label++) {
            parent[label] = parent[label] == label ? ++count : parent[parent[label]];
        }
        parts = PyMem_RawMalloc((size_t)count * sizeof(Part) + 1);
        rank = PyMem_RawMalloc((size_t)count * sizeof(int32_t) + 1);
        bad = parts == NULL || rank == NULL ? 2 : 0;
    }
    if (!bad) {
        for (int32_t k = 0; k < count; k++) {
            parts[k] = (Part){0, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, -1, -1, 0, k};
        }
        for (Py_ssize_t y = 0; y < height; y++) {
            for (Py_ssize_t x = 0; x < width; x++) {
                Py_ssize_t i = y * width + x;
                if (out[i] == 0) {
                    continue;
                }
                int32_t k = parent[out[i]] - 1;
                out[i] = k + 1;
                Part *part = &parts[k];
                int32_t v = value[i];
                int32_t by = (int32_t)((y - anchor[2 * v]) >> 1);
                int32_t bx = (int32_t)((x - anchor[2 * v + 1]) >> 1);
                part->value = v;
                if (by < part->block_y || (by == part->block_y && bx < part->block_x)) {
                    part->block_y = by;
                    part->block_x = bx;
                }
                if (x < part->left) part->left = (int32_t)x;
                if (x > part->right) part->right = (int32_t)x;
                if (y < part->top) part->top = (int32_t)y;
                if (y > part->bottom) part->bottom = (int32_t)y;
                part->area++;
            }
        }
        /* ordered by value, then by first block: rank[k] is part k's number */
        qsort(parts, (size_t)count, sizeof(Part), part_order);
        for (int32_t k = 0; k < count; k++) {
            rank[parts[k].index] = k + 1;
        }
        for (Py_ssize_t i = 0; i < pixels; i++) {
            if (out[i]) {
                out[i] = rank[out[i] - 1];
            }
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(parent);
    PyMem_RawFree(anchor);
    PyMem_RawFree(rank);
    if (explicit) {
        PyBuffer_Release(&anchors);
    }
    PyBuffer_Release(&values);
    PyBuffer_Release(&target);
    if (bad) {
        PyMem_RawFree(parts);
        if (bad == 2) {
            return PyErr_NoMemory();
        }
        PyErr_SetString(PyExc_ValueError, "a value above the count of values");
        return NULL;
    }
    /* the parts' boxes and pixels, in order: left, top, width, height, area */
    PyObject *stats = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)count * 5 * sizeof(int32_t));
    if (stats != NULL) {
        int32_t *row = (int32_t *)PyBytes_AS_STRING(stats);
        for (int32_t k = 0; k < count; k++) {
            row[5 * k] = parts[k].left;
            row[5 * k + 1] = parts[k].top;
            row[5 * k + 2] = parts[k].right - parts[k].left + 1;
            row[5 * k + 3] = parts[k].bottom - parts[k].top + 1;
            row[5 * k + 4] = parts[k].area;
        }
    }
    PyMem_RawFree(parts);
    return stats;
}

/* What is wrong with a 2-D buffer of byte or 32-bit values whose rows are contiguous (a
 * numpy array or a window of one), or NULL. */
static const char *
plane_problem(const Py_buffer *plane)
{
    if (plane->ndim != 2 || plane->shape == NULL || plane->strides == NULL) {
        return "a 2-D array is needed";
    }
    if (plane->itemsize != 1 && plane->itemsize != 4) {
        return "values of 1 or 4 bytes only";
    }
    if (plane->strides[1] != plane->itemsize) {
        return "each row's values must be contiguous";
    }
    return NULL;
}

/* Sub-tables that consecutive pixels count into in turn: a run of pixels of one value (a
 * confident area, a random-weight model's flat maps) would otherwise wait on its own
 * count, each increment on the one before (seven times slower than varied values). */
#define TABLES 4

#define COUNT_ROW(OWNER)                                                                   \
    do {                                                                                   \
        Py_ssize_t x = 0;                                                                  \
        for (; x + TABLES <= width && !bad; x += TABLES) {                                 \
            for (int j = 0; j < TABLES; j++) {                                             \
                uint32_t o = (uint32_t)(OWNER(x + j));                                     \
                bad |= o >= (uint32_t)rows;                                                \
                table[j * span + (bad ? 0 : (size_t)o * 256) + level[x + j]]++;            \
            }                                                                              \
        }                                                                                  \
        for (; x < width && !bad; x++) {                                                   \
            uint32_t o = (uint32_t)(OWNER(x));                                             \
            bad |= o >= (uint32_t)rows;                                                    \
            table[(bad ? 0 : (size_t)o * 256) + level[x]]++;                               \
        }                                                                                  \
    } while (0)

#define NO_OWNER(x) 0
#define OWNER_OF(x) owner[x]

static PyObject *
count_levels(PyObject *module, PyObject *args)
{
    PyObject *levels_object, *owners_object;
    Py_ssize_t rows;
    Py_buffer levels, target;
    Py_buffer owners = {0};
    (void)module;
    if (!PyArg_ParseTuple(args, "OOnw*:count_levels", &levels_object, &owners_object, &rows,
                          &target)) {
        return NULL;
    }
    if (PyObject_GetBuffer(levels_object, &levels, PyBUF_STRIDED_RO) < 0) {
        PyBuffer_Release(&target);
        return NULL;
    }
    int owned = owners_object != Py_None;
    if (owned && PyObject_GetBuffer(owners_object, &owners, PyBUF_STRIDED_RO) < 0) {
        PyBuffer_Release(&levels);
        PyBuffer_Release(&target);
        return NULL;
    }
    const char *problem = plane_problem(&levels);
    if (problem == NULL && levels.itemsize != 1) {
        problem = "levels of 1 byte only";
    } else if (problem == NULL && owned) {
        problem = plane_problem(&owners);
        if (problem == NULL && owners.itemsize != 1) {
            problem = "owners of 1 byte only";
        } else if (problem == NULL &&
                   (owners.shape[0] != levels.shape[0] || owners.shape[1] != levels.shape[1])) {
            problem = "the owners and the levels differ in shape";
        }
    }
    if (problem == NULL && (rows < 1 || rows > 256)) {
        problem = "rows must be 1 to 256";
    } else if (problem == NULL && levels.shape[0] * levels.shape[1] >= UINT32_MAX) {
        problem = "too many pixels"; /* a 32-bit count each table, whatever the rows' ends */
    } else if (problem == NULL && target.len != rows * 256 * (Py_ssize_t)sizeof(int64_t)) {
        problem = "the output is not rows x 256 64-bit integers";
    }
    if (problem != NULL) {
        if (owned) {
            PyBuffer_Release(&owners);
        }
        PyBuffer_Release(&levels);
        PyBuffer_Release(&target);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    size_t span = (size_t)rows * 256;
    uint32_t *table = PyMem_RawCalloc(span * TABLES, sizeof(uint32_t));
    if (table == NULL) {
        if (owned) {
            PyBuffer_Release(&owners);
        }
        PyBuffer_Release(&levels);
        PyBuffer_Release(&target);
        return PyErr_NoMemory();
    }
    Py_ssize_t height = levels.shape[0], width = levels.shape[1];
    int bad = 0; /* an owner outside 0 .. rows - 1 */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t y = 0; y < height && !bad; y++) {
        const uint8_t *level = (const uint8_t *)levels.buf + y * levels.strides[0];
        if (owned) {
            const uint8_t *owner = (const uint8_t *)owners.buf + y * owners.strides[0];
            COUNT_ROW(OWNER_OF);
        } else {
            COUNT_ROW(NO_OWNER);
        }
    }
    int64_t *out = target.buf;
    for (size_t i = 0; i < span; i++) {
        int64_t sum = 0;
        for (int j = 0; j < TABLES; j++) {
            sum += table[j * span + i];
        }
        out[i] = sum;
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(table);
    if (owned) {
        PyBuffer_Release(&owners);
    }
    PyBuffer_Release(&levels);
    PyBuffer_Release(&target);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "an owner outside 0 .. rows - 1");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
part_boxes(PyObject *module, PyObject *args)
{
    Py_buffer labels, target;
    PyObject *labels_object;
    Py_ssize_t count;
    (void)module;
    if (!PyArg_ParseTuple(args, "Onw*:part_boxes", &labels_object, &count, &target)) {
        return NULL;
    }
    if (PyObject_GetBuffer(labels_object, &labels, PyBUF_STRIDED_RO) < 0) {
        PyBuffer_Release(&target);
        return NULL;
    }
    const char *problem = plane_problem(&labels);
    if (problem == NULL && labels.itemsize != 4) {
        problem = "labels of 4 bytes only";
    } else if (problem == NULL && (count < 1 || count > INT32_MAX / 5)) {
        problem = "count out of range";
    } else if (problem == NULL && (labels.shape[0] > INT32_MAX || labels.shape[1] > INT32_MAX)) {
        problem = "height or width out of range";
    } else if (problem == NULL && target.len != count * 5 * (Py_ssize_t)sizeof(int32_t)) {
        problem = "the output is not count x 5 32-bit integers";
    }
    if (problem != NULL) {
        PyBuffer_Release(&labels);
        PyBuffer_Release(&target);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    /* left, top, right, bottom and pixels of each label, a row's run of one label at once */
    int64_t *box = PyMem_RawMalloc((size_t)count * 5 * sizeof(int64_t));
    if (box == NULL) {
        PyBuffer_Release(&labels);
        PyBuffer_Release(&target);
        return PyErr_NoMemory();
    }
    Py_ssize_t height = labels.shape[0], width = labels.shape[1];
    int bad = 0; /* a label outside 0 .. count - 1 */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < count; k++) {
        int64_t *b = box + 5 * k;
        b[0] = b[1] = INT64_MAX;
        b[2] = b[3] = -1;
        b[4] = 0;
    }
    for (Py_ssize_t y = 0; y < height && !bad; y++) {
        const int32_t *row = (const int32_t *)((const char *)labels.buf + y * labels.strides[0]);
        Py_ssize_t x = 0;
        while (x < width) {
            int32_t label = row[x];
            Py_ssize_t start = x;
            while (x < width && row[x] == label) {
                x++;
            }
            if ((uint32_t)label >= (uint64_t)count) {
                bad = 1;
                break;
            }
            int64_t *b = box + 5 * (Py_ssize_t)label;
            if (start < b[0]) b[0] = start;
            if (y < b[1]) b[1] = y;
            if (x - 1 > b[2]) b[2] = x - 1;
            b[3] = y; /* rows come in order */
            b[4] += x - start;
        }
    }
    /* OpenCV's statistics' layout: left, top, width, height, pixels (zeros: no pixels) */
    int32_t *out = target.buf;
    for (Py_ssize_t k = 0; k < count; k++) {
        const int64_t *b = box + 5 * k;
        int empty = b[4] == 0;
        out[5 * k] = empty ? 0 : (int32_t)b[0];
        out[5 * k + 1] = empty ? 0 : (int32_t)b[1];
        out[5 * k + 2] = empty ? 0 : (int32_t)(b[2] - b[0] + 1);
        out[5 * k + 3] = empty ? 0 : (int32_t)(b[3] - b[1] + 1);
        out[5 * k + 4] = (int32_t)(b[4] > INT32_MAX ? INT32_MAX : b[4]);
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(box);
    PyBuffer_Release(&labels);
    PyBuffer_Release(&target);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a label outside 0 .. count - 1");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"label_parts", label_parts, METH_VARARGS,
     "label_parts(labels, itemsize, height, width, out) -> count: the 4-connected parts of\n"
     "each nonzero label of a C-contiguous label image (values of itemsize 1, 2 or 4\n"
     "bytes), written to out (height x width int32, 0 = no label), numbered 1..count in\n"
     "the raster order of their first pixels."},
    {"ordered_parts", ordered_parts, METH_VARARGS,
     "ordered_parts(values, height, width, count, anchors, out) -> stats: the 8-connected\n"
     "parts of each nonzero value (uint16, 1..count) of a C-contiguous image, written to\n"
     "out (height x width int32) numbered by value and then as OpenCV's 8-connected\n"
     "labelling numbers the parts of one value in an image whose corner is the value's\n"
     "anchor (by the first 2x2 block each reaches). anchors: (count + 1) x 2 int32 rows\n"
     "(row, column) by value, or None for each value's own box corner. stats: bytes of\n"
     "int32 rows (left, top, width, height, pixels), one per part in order."},
    {"count_levels", count_levels, METH_VARARGS,
     "count_levels(levels, owners, rows, out): the pixels of each owner (row) and level\n"
     "(column) of a 2-D uint8 level array, written to out (rows x 256 int64). owners: a\n"
     "uint8 array of the same shape (values 0 .. rows - 1; 0 counts too), or None (every\n"
     "pixel owner 0). Either array may be a window (rows apart); rows 1 to 256."},
    {"part_boxes", part_boxes, METH_VARARGS,
     "part_boxes(labels, count, out): each label's box and pixels in a 2-D int32 label\n"
     "array (values 0 .. count - 1), written to out (count x 5 int32: left, top, width,\n"
     "height, pixels, as OpenCV's component statistics; zeros for a label absent)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fast_parts",
    "Parts of label images, pixels counted per level (see roadmark.analysis.pixel_outline,\n"
    "region_pieces and pixel_counts).", -1, methods,
};

PyMODINIT_FUNC
PyInit_fast_parts(void)
{
    return PyModule_Create(&module);
}
