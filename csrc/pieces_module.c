/* roadmark.analysis.fast_pieces: uncertain components cut into pieces that fit, in one
 * compiled pass: the piece image and pieces that roadmark.analysis.region_pieces'
 * split_components makes with array operations and OpenCV, the same pixels, numbers and
 * order.
 *
 * A component that fits is kept whole. One that does not is cut along its predicted
 * classes: each class's 8-connected parts, by class, and within a class in the order
 * OpenCV's 8-connected labelling numbers them in an image whose corner is the class's
 * anchor (the component's box corner when it has at most three classes, else the corner
 * of the class's own box): by the first 2x2 block each part reaches. A part that does not
 * fit is cut by an even grid over its box (cell edges at numpy's rounded linspace); a
 * full cell is one piece, the others' pixels are cut into their 8-connected parts, in
 * OpenCV's order within the cell.
 *
 * Everything works on runs: a row's consecutive pixels of one component and class. Runs
 * of one class in neighbouring rows join when they overlap or touch at a corner, so the
 * cost follows the number of runs, not of pixels (the uncertain road of a frame is a few
 * thousand runs).
 *
 * Built by setup.py as an optional extension.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "growing.h"
#include "part_order.h"

/* A row's run of pixels x0..x1 (inclusive) of one value, in window coordinates. */
typedef struct {
    int32_t y, x0, x1, value;
} Run;

/* A growing array of runs. */
typedef struct {
    Run *runs;
    Py_ssize_t length, capacity;
} Runs;

static int
add_run(Runs *list, int32_t y, int32_t x0, int32_t x1, int32_t value)
{
    Run *runs = grown(list->runs, &list->capacity, list->length + 1, sizeof(Run), 256);
    if (runs == NULL) {
        return -1;
    }
    list->runs = runs;
    list->runs[list->length++] = (Run){y, x0, x1, value};
    return 0;
}

static inline Py_ssize_t
root_of(Py_ssize_t *parent, Py_ssize_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

/* The 8-connected parts of runs (sorted by row, then column; each row's runs apart), one
 * value's runs joined only to that value's: part_of[i] is run i's part, parts come ordered
 * by value and first block from their value's anchor (anchors: row and column per value,
 * or NULL for all at 0, 0). Returns the number of parts, or -1 without memory (*found is
 * then NULL). */
static Py_ssize_t
connect(const Run *runs, Py_ssize_t count, const int32_t *anchors, Py_ssize_t *part_of,
        Part **found)
{
    *found = NULL;
    Py_ssize_t *parent = PyMem_RawMalloc((size_t)(count + 1) * sizeof(Py_ssize_t));
    Py_ssize_t *index = PyMem_RawMalloc((size_t)(count + 1) * sizeof(Py_ssize_t));
    Part *parts = PyMem_RawMalloc((size_t)(count + 1) * sizeof(Part));
    if (parent == NULL || index == NULL || parts == NULL) {
        PyMem_RawFree(parent);
        PyMem_RawFree(index);
        PyMem_RawFree(parts);
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        parent[i] = i;
    }
    Py_ssize_t above = 0, row_start = 0; /* the runs of the row above: above..row_start */
    for (Py_ssize_t i = 0; i < count; i++) {
        if (i == 0 || runs[i].y != runs[i - 1].y) {
            above = (i > 0 && runs[i - 1].y == runs[i].y - 1) ? row_start : i;
            row_start = i;
        }
        const Run *run = &runs[i];
        /* skip the runs above that end left of this run's corner neighbour */
        while (above < row_start && runs[above].x1 + 1 < run->x0) {
            above++;
        }
        for (Py_ssize_t j = above; j < row_start && runs[j].x0 <= run->x1 + 1; j++) {
            if (runs[j].value == run->value) {
                Py_ssize_t a = root_of(parent, i), b = root_of(parent, j);
                if (a != b) {
                    parent[a > b ? a : b] = a < b ? a : b;
                }
            }
        }
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        const Run *run = &runs[i];
        Py_ssize_t root = root_of(parent, i);
        if (root == i) {
            index[i] = total;
            parts[total++] = (Part){run->value, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX,
                                    -1, -1, 0, (int32_t)i}; /* index: its root run */
        }
        Part *part = &parts[index[root]];
        int32_t ay = anchors ? anchors[2 * run->value] : 0;
        int32_t ax = anchors ? anchors[2 * run->value + 1] : 0;
        int32_t by = (run->y - ay) >> 1, bx = (run->x0 - ax) >> 1;
        if (by < part->block_y || (by == part->block_y && bx < part->block_x)) {
            part->block_y = by;
            part->block_x = bx;
        }
        part->left = run->x0 < part->left ? run->x0 : part->left;
        part->right = run->x1 > part->right ? run->x1 : part->right;
        part->top = run->y < part->top ? run->y : part->top;
        part->bottom = run->y > part->bottom ? run->y : part->bottom;
        part->area += run->x1 - run->x0 + 1;
    }
    qsort(parts, (size_t)total, sizeof(Part), part_order);
    for (Py_ssize_t k = 0; k < total; k++) {
        index[parts[k].index] = k; /* a root's part, now in order */
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        part_of[i] = index[root_of(parent, i)];
    }
    PyMem_RawFree(parent);
    PyMem_RawFree(index);
    *found = parts;
    return total;
}

/* Where the pieces go: the piece image (the window's corner at left, top in it), the
 * next piece number, and a row per piece (left, top, width, height, pixels). */
typedef struct {
    int32_t *image;
    Py_ssize_t width, left, top;
    int32_t next;
    int32_t *rows;
    Py_ssize_t length, capacity; /* in int32 values */
} Pieces;

static int
add_piece(Pieces *out, int32_t left, int32_t top, int32_t width, int32_t height, int32_t area)
{
    int32_t *rows = grown(out->rows, &out->capacity, out->length + 5, sizeof(int32_t), 640);
    if (rows == NULL) {
        return -1;
    }
    out->rows = rows;
    int32_t *row = out->rows + out->length;
    row[0] = (int32_t)out->left + left;
    row[1] = (int32_t)out->top + top;
    row[2] = width;
    row[3] = height;
    row[4] = area;
    out->length += 5;
    return 0;
}

static void
paint(Pieces *out, const Run *run, int32_t number)
{
    int32_t *row = out->image + (out->top + run->y) * out->width + out->left;
    for (int32_t x = run->x0; x <= run->x1; x++) {
        row[x] = number;
    }
}

/* Each part of runs a piece, numbered from out->next in the parts' order. */
static int
add_parts(Pieces *out, const Run *runs, Py_ssize_t count, const Py_ssize_t *part_of,
          const Part *parts, Py_ssize_t total)
{
    for (Py_ssize_t k = 0; k < total; k++) {
        const Part *part = &parts[k];
        if (add_piece(out, part->left, part->top, part->right - part->left + 1,
                      part->bottom - part->top + 1, part->area) < 0) {
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        paint(out, &runs[i], out->next + (int32_t)part_of[i]);
    }
    out->next += (int32_t)total;
    return 0;
}

/* numpy's linspace(0, size, cells + 1).round(): the cells' edges. */
static void
edges(int32_t size, int32_t cells, int32_t *at)
{
    double step = (double)size / (double)cells;
    for (int32_t i = 0; i < cells; i++) {
        at[i] = (int32_t)rint((double)i * step);
    }
    at[cells] = size;
}

/* A part (its runs in row order) as pieces no larger than max_w x max_h: itself, or its
 * pixels in each cell of an even grid over its box, cell by cell (scratch: room for the
 * part's runs). */
static int
fit(Pieces *out, const Run *runs, Py_ssize_t count, const Part *part, int32_t max_w,
    int32_t max_h, Run *scratch)
{
    int32_t width = part->right - part->left + 1, height = part->bottom - part->top + 1;
    if (width <= max_w && height <= max_h) {
        if (add_piece(out, part->left, part->top, width, height, part->area) < 0) {
            return -1;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            paint(out, &runs[i], out->next);
        }
        out->next++;
        return 0;
    }
    /* (in 64 bits: a limit near 2**31 would overflow the sum) */
    int32_t columns = (int32_t)(((int64_t)width + max_w - 1) / max_w);
    int32_t rows = (int32_t)(((int64_t)height + max_h - 1) / max_h);
    int32_t *xs = PyMem_RawMalloc((size_t)(columns + rows + 2) * sizeof(int32_t));
    if (xs == NULL) {
        return -1;
    }
    int32_t *ys = xs + columns + 1;
    edges(width, columns, xs);
    edges(height, rows, ys);
    int failed = 0;
    Py_ssize_t first = 0; /* the first run at or below the cell row */
    for (int32_t r = 0; r < rows && !failed; r++) {
        int32_t y0 = part->top + ys[r], y1 = part->top + ys[r + 1];
        while (first < count && runs[first].y < y0) {
            first++;
        }
        for (int32_t c = 0; c < columns && !failed; c++) {
            int32_t x0 = part->left + xs[c], x1 = part->left + xs[c + 1];
            Py_ssize_t n = 0;
            int64_t pixels = 0;
            for (Py_ssize_t i = first; i < count && runs[i].y < y1; i++) {
                int32_t a = runs[i].x0 > x0 ? runs[i].x0 : x0;
                int32_t b = runs[i].x1 < x1 - 1 ? runs[i].x1 : x1 - 1;
                if (a <= b) {
                    scratch[n++] = (Run){runs[i].y, a, b, 1};
                    pixels += b - a + 1;
                }
            }
            if (n == 0) {
                continue;
            }
            if (pixels == (int64_t)(x1 - x0) * (y1 - y0)) { /* a full cell: one piece */
                failed = add_piece(out, x0, y0, x1 - x0, y1 - y0, (int32_t)pixels) < 0;
                for (Py_ssize_t i = 0; i < n && !failed; i++) {
                    paint(out, &scratch[i], out->next);
                }
                out->next++;
                continue;
            }
            int32_t anchor[4] = {0, 0, y0, x0}; /* value 1's anchor: the cell's corner */
            Py_ssize_t *part_of = PyMem_RawMalloc((size_t)n * sizeof(Py_ssize_t));
            Part *parts = NULL;
            Py_ssize_t total = part_of ? connect(scratch, n, anchor, part_of, &parts) : -1;
            failed = total < 0 || add_parts(out, scratch, n, part_of, parts, total) < 0;
            PyMem_RawFree(part_of);
            PyMem_RawFree(parts);
        }
    }
    PyMem_RawFree(xs);
    return failed ? -1 : 0;
}

/* A component too large, in its window: cut along its classes, each part fitted. */
static int
cut(Pieces *out, const int32_t *components, const uint8_t *labels, Py_ssize_t image_width,
    int32_t index, int32_t width, int32_t height, int32_t max_w, int32_t max_h)
{
    Runs list = {0};
    int failed = 0;
    uint8_t seen[256] = {0};
    for (int32_t y = 0; y < height && !failed; y++) {
        const int32_t *owner = components + (out->top + y) * image_width + out->left;
        const uint8_t *label = labels + (out->top + y) * image_width + out->left;
        int32_t x = 0;
        while (x < width && !failed) {
            if (owner[x] != index) {
                x++;
                continue;
            }
            int32_t start = x;
            uint8_t value = label[x];
            while (x < width && owner[x] == index && label[x] == value) {
                x++;
            }
            seen[value] = 1;
            failed = add_run(&list, y, start, x - 1, value) < 0;
        }
    }
    /* classes numbered 1.. in order; anchors at the box corner for a few, else each
     * class's own box corner (its smallest row and column) */
    int32_t rank[256], classes = 0;
    for (int v = 0; v < 256; v++) {
        rank[v] = seen[v] ? ++classes : 0;
    }
    int32_t anchors[2 * 257];
    for (int k = 0; k <= classes; k++) {
        anchors[2 * k] = classes <= 3 ? 0 : INT32_MAX;
        anchors[2 * k + 1] = classes <= 3 ? 0 : INT32_MAX;
    }
    for (Py_ssize_t i = 0; i < list.length; i++) {
        Run *run = &list.runs[i];
        run->value = rank[run->value];
        if (run->y < anchors[2 * run->value]) {
            anchors[2 * run->value] = run->y;
        }
        if (run->x0 < anchors[2 * run->value + 1]) {
            anchors[2 * run->value + 1] = run->x0;
        }
    }
    Py_ssize_t count = list.length;
    Py_ssize_t *part_of = failed ? NULL : PyMem_RawMalloc((size_t)(count + 1) * sizeof(Py_ssize_t));
    Py_ssize_t *start = NULL;
    Run *grouped = NULL, *scratch = NULL;
    Part *parts = NULL;
    Py_ssize_t total = part_of ? connect(list.runs, count, anchors, part_of, &parts) : -1;
    if (total >= 0) {
        start = PyMem_RawCalloc((size_t)total + 1, sizeof(Py_ssize_t));
        grouped = PyMem_RawMalloc((size_t)(count + 1) * sizeof(Run));
        scratch = PyMem_RawMalloc((size_t)(count + 1) * sizeof(Run));
    }
    failed = total < 0 || start == NULL || grouped == NULL || scratch == NULL;
    if (!failed) { /* the runs grouped by part, each part's in row order */
        for (Py_ssize_t i = 0; i < count; i++) {
            start[part_of[i] + 1]++;
        }
        for (Py_ssize_t k = 0; k < total; k++) {
            start[k + 1] += start[k];
        }
        Py_ssize_t *at = part_of; /* (reused: each run's place in grouped) */
        for (Py_ssize_t i = 0; i < count; i++) {
            at[i] = start[part_of[i]]++;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            grouped[at[i]] = list.runs[i];
        }
        for (Py_ssize_t k = total; k > 0; k--) {
            start[k] = start[k - 1];
        }
        start[0] = 0;
        for (Py_ssize_t k = 0; k < total && !failed; k++) {
            failed = fit(out, grouped + start[k], start[k + 1] - start[k], &parts[k], max_w,
                         max_h, scratch) < 0;
        }
    }
    PyMem_RawFree(list.runs);
    PyMem_RawFree(part_of);
    PyMem_RawFree(parts);
    PyMem_RawFree(start);
    PyMem_RawFree(grouped);
    PyMem_RawFree(scratch);
    return failed ? -1 : 0;
}

static PyObject *
split_pieces(PyObject *module, PyObject *args)
{
    Py_buffer components, labels, stats, candidates, target;
    Py_ssize_t height, width, max_w, max_h;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*y*y*y*nnnnw*:split_pieces", &components, &labels, &stats,
                          &candidates, &height, &width, &max_w, &max_h, &target)) {
        return NULL;
    }
    Py_ssize_t kinds = stats.len / (5 * (Py_ssize_t)sizeof(int32_t));
    const char *problem = NULL;
    if (height < 1 || width < 1 || height > INT32_MAX || width > INT32_MAX ||
        height > PY_SSIZE_T_MAX / 4 / width) {
        problem = "height or width out of range";
    } else if (components.len != height * width * 4 || target.len != height * width * 4) {
        problem = "the components and the output must be height x width int32";
    } else if (labels.len != height * width) {
        problem = "the labels must be height x width uint8";
    } else if (stats.len % (5 * sizeof(int32_t)) || candidates.len % sizeof(int64_t)) {
        problem = "stats must be int32 rows of 5, candidates int64";
    } else if (max_w < 0 || max_h < 0 || max_w > INT32_MAX || max_h > INT32_MAX ||
               (max_w == 0) != (max_h == 0)) {
        problem = "max_w and max_h must be both 0 (keep whole) or both >= 1";
    }
    const int32_t *rows = stats.buf;
    const int64_t *wanted = candidates.buf;
    Py_ssize_t wanted_count = candidates.len / (Py_ssize_t)sizeof(int64_t);
    for (Py_ssize_t k = 0; k < wanted_count && problem == NULL; k++) {
        int64_t index = wanted[k];
        const int32_t *row = rows + 5 * (index >= 0 && index < kinds ? index : 0);
        if (index < 1 || index >= kinds) {
            problem = "a candidate outside 1 .. len(stats) - 1";
        } else if (row[0] < 0 || row[1] < 0 || row[2] < 1 || row[3] < 1 ||
                   row[2] > width - row[0] || row[3] > height - row[1]) {
            problem = "a candidate's box is not inside the image";
        }
    }
    if (problem != NULL) {
        PyBuffer_Release(&components);
        PyBuffer_Release(&labels);
        PyBuffer_Release(&stats);
        PyBuffer_Release(&candidates);
        PyBuffer_Release(&target);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    Pieces out = {target.buf, width, 0, 0, 1, NULL, 0, 0};
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < wanted_count && !failed; k++) {
        const int32_t *row = rows + 5 * wanted[k];
        int32_t index = (int32_t)wanted[k];
        out.left = row[0];
        out.top = row[1];
        if (max_w == 0 || (row[2] <= max_w && row[3] <= max_h)) { /* kept whole */
            failed = add_piece(&out, 0, 0, row[2], row[3], row[4]) < 0;
            for (int32_t y = 0; y < row[3]; y++) {
                Py_ssize_t at = (row[1] + y) * width + row[0];
                const int32_t *owner = (const int32_t *)components.buf + at;
                int32_t *piece = out.image + at;
                for (int32_t x = 0; x < row[2]; x++) {
                    if (owner[x] == index) {
                        piece[x] = out.next;
                    }
                }
            }
            out.next++;
        } else {
            failed = cut(&out, components.buf, labels.buf, width, index, row[2], row[3],
                         (int32_t)max_w, (int32_t)max_h) < 0;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&components);
    PyBuffer_Release(&labels);
    PyBuffer_Release(&stats);
    PyBuffer_Release(&candidates);
    PyBuffer_Release(&target);
    PyObject *result = failed ? PyErr_NoMemory()
                              : PyBytes_FromStringAndSize((const char *)out.rows,
                                                          out.length * (Py_ssize_t)sizeof(int32_t));
    PyMem_RawFree(out.rows);
    return result;
}

static PyMethodDef methods[] = {
    {"split_pieces", split_pieces, METH_VARARGS,
     "split_pieces(components, labels, stats, candidates, height, width, max_w, max_h, out)\n"
     "-> rows: the candidates (int64 component numbers) of a C-contiguous int32 component\n"
     "image cut into pieces no larger than max_w x max_h (both 0: kept whole) along the\n"
     "classes of a uint8 label image of the same size, as region_pieces.split_components\n"
     "cuts them. stats: int32 rows (left, top, width, height, pixels) per component. The\n"
     "pieces are numbered 1.. into out (height x width int32, zeros); rows: bytes of int32\n"
     "rows (left, top, width, height, pixels), one per piece in order."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fast_pieces",
    "Uncertain components cut into pieces in one pass (see\n"
    "roadmark.analysis.region_pieces).", -1, methods,
};

PyMODINIT_FUNC
PyInit_fast_pieces(void)
{
    return PyModule_Create(&module);
}
