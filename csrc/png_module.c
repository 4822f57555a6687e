/* roadmark.io.fast_png: PNG's row filters undone (RFC 2083, section 6), the step of PNG
 * decoding that follows inflating the image data. roadmark.io.png_file inflates with ISA-L
 * and hands the rows here; libpng's build in OpenCV's wheel undoes the filters a byte at a
 * time with the checksums of a second pass, this does the same arithmetic in one pass that
 * the compiler vectorizes where the filter allows (up, and the row above in average).
 *
 * Built by setup.py as an optional extension: where it does not build, roadmark.io.png_file
 * lets OpenCV decode as before.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

enum { NONE = 0, SUB = 1, UP = 2, AVERAGE = 3, PAETH = 4 };

/* the predictor of the Paeth filter: of left, above and upper left, the one nearest to
 * left + above - upper left (ties: left, then above) */
static inline unsigned char
paeth(int left, int above, int corner)
{
    int pa = abs(above - corner);
    int pb = abs(left - corner);
    int pc = abs(left + above - 2 * corner);
    if (pa <= pb && pa <= pc) {
        return (unsigned char)left;
    }
    return (unsigned char)(pb <= pc ? above : corner);
}

/* One row: ``in`` its filtered bytes (after the filter type byte), ``prev`` the row above
 * unfiltered (zeros for the first row), ``out`` where the row goes; ``size`` a multiple of
 * ``bpp``. The pixel to the left and the one above it are carried in ``left`` and
 * ``corner``, which the compiler keeps in registers once ``bpp`` is a constant (see
 * unfilter_row): reading them back from ``out`` would wait on the store just made. */
static inline __attribute__((always_inline)) void
unfilter_pixels(int kind, const unsigned char *in, const unsigned char *prev,
                unsigned char *out, Py_ssize_t size, const Py_ssize_t bpp)
{
    unsigned char left[8] = {0}, corner[8] = {0};
    Py_ssize_t i, k;
    switch (kind) {
    case SUB:
        for (i = 0; i < size; i += bpp) {
            for (k = 0; k < bpp; k++) {
                left[k] = (unsigned char)(in[i + k] + left[k]);
                out[i + k] = left[k];
            }
        }
        break;
    case AVERAGE:
        for (i = 0; i < size; i += bpp) {
            for (k = 0; k < bpp; k++) {
                left[k] = (unsigned char)(in[i + k] + ((left[k] + prev[i + k]) >> 1));
                out[i + k] = left[k];
            }
        }
        break;
    default: /* PAETH; the first pixel, with no left or upper left, predicts from above */
        for (i = 0; i < size; i += bpp) {
            for (k = 0; k < bpp; k++) {
                unsigned char above = prev[i + k];
                left[k] = (unsigned char)(in[i + k] + paeth(left[k], above, corner[k]));
                corner[k] = above;
                out[i + k] = left[k];
            }
        }
        break;
    }
}

static void
unfilter_row(int kind, const unsigned char *in, const unsigned char *prev, unsigned char *out,
             Py_ssize_t size, Py_ssize_t bpp)
{
    if (kind == NONE) {
        memcpy(out, in, (size_t)size);
        return;
    }
    if (kind == UP) {
        for (Py_ssize_t i = 0; i < size; i++) {
            out[i] = (unsigned char)(in[i] + prev[i]);
        }
        return;
    }
    switch (bpp) { /* a constant bytes per pixel for each of PNG's pixel sizes */
    case 1: unfilter_pixels(kind, in, prev, out, size, 1); break;
    case 2: unfilter_pixels(kind, in, prev, out, size, 2); break;
    case 3: unfilter_pixels(kind, in, prev, out, size, 3); break;
    case 4: unfilter_pixels(kind, in, prev, out, size, 4); break;
    case 6: unfilter_pixels(kind, in, prev, out, size, 6); break;
    default: unfilter_pixels(kind, in, prev, out, size, 8); break;
    }
}

static int
ranges_overlap(const void *a, Py_ssize_t a_len, const void *b, Py_ssize_t b_len)
{
    uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
    return a0 < b0 + (uintptr_t)b_len && b0 < a0 + (uintptr_t)a_len;
}

static PyObject *
unfilter(PyObject *module, PyObject *args)
{
    Py_buffer rows, out;
    Py_ssize_t height, width_bytes, bpp;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*w*nnn:unfilter", &rows, &out, &height, &width_bytes, &bpp)) {
        return NULL;
    }
    const char *problem = NULL;
    if (height < 0 || width_bytes < 1 || width_bytes >= PY_SSIZE_T_MAX || bpp < 1 || bpp > 8 ||
        bpp == 5 || bpp == 7) {
        problem = "height, row bytes or bytes per pixel out of range";
    } else if (width_bytes % bpp) {
        problem = "the row bytes are not whole pixels";
    } else if (rows.len / (width_bytes + 1) != height || rows.len % (width_bytes + 1)) {
        problem = "the rows are not height x (1 + row bytes) bytes";
    } else if (out.len / width_bytes != height || out.len % width_bytes) {
        problem = "the output is not height x row bytes bytes";
    }
    if (problem != NULL) {
        PyBuffer_Release(&rows);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    if (height == 0) { /* no rows: nothing to do (and no row of zeros to make) */
        PyBuffer_Release(&rows);
        PyBuffer_Release(&out);
        Py_RETURN_NONE;
    }
    if (ranges_overlap(rows.buf, rows.len, out.buf, out.len)) {
        PyBuffer_Release(&rows);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "the rows and the output overlap");
        return NULL;
    }
    unsigned char *zeros = PyMem_RawCalloc((size_t)width_bytes, 1);
    if (zeros == NULL) {
        PyBuffer_Release(&rows);
        PyBuffer_Release(&out);
        return PyErr_NoMemory();
    }
    const unsigned char *in = rows.buf;
    unsigned char *target = out.buf;
    Py_ssize_t bad = -1;
    Py_BEGIN_ALLOW_THREADS
    const unsigned char *prev = zeros;
    for (Py_ssize_t row = 0; row < height; row++) {
        const unsigned char *line = in + row * (width_bytes + 1);
        unsigned char *done = target + row * width_bytes;
        if (line[0] > PAETH) {
            bad = row;
            break;
        }
        unfilter_row(line[0], line + 1, prev, done, width_bytes, bpp);
        prev = done;
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(zeros);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&out);
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError, "row %zd has an unknown filter type", bad);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"unfilter", unfilter, METH_VARARGS,
     "unfilter(rows, out, height, row_bytes, bytes_per_pixel): undo PNG's row filters.\n"
     "rows: height rows of a filter type byte and row_bytes filtered bytes (inflated image\n"
     "data); out: a writable buffer of height x row_bytes bytes for the unfiltered rows;\n"
     "bytes_per_pixel 1, 2, 3, 4, 6 or 8 (1 for depths below 8), dividing row_bytes.\n"
     "ValueError on a filter type other than 0 to 4 or on sizes that do not match."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fast_png", "PNG's row filters undone (see roadmark.io.png_file).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit_fast_png(void)
{
    return PyModule_Create(&module);
}
