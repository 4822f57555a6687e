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
 * Built by setup.py as an optional extension: where it does not build, pixel_outline
 * labels the grid with OpenCV.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

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
    Py_ssize_t itemsize, height, width;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*nnnw*:label_parts", &labels, &itemsize, &height, &width,
                          &target)) {
        return NULL;
    }
    const char *problem = NULL;
    if (itemsize != 1 && itemsize != 2 && itemsize != 4) {
        problem = "labels of 1, 2 or 4 bytes only";
    } else if (height < 0 || width < 0 || (width > 0 && height > INT32_MAX / 2 / width)) {
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

static PyMethodDef methods[] = {
    {"label_parts", label_parts, METH_VARARGS,
     "label_parts(labels, itemsize, height, width, out) -> count: the 4-connected parts of\n"
     "each nonzero label of a C-contiguous label image (values of itemsize 1, 2 or 4\n"
     "bytes), written to out (height x width int32, 0 = no label), numbered 1..count in\n"
     "the raster order of their first pixels."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fast_parts",
    "4-connected parts of a label image (see roadmark.analysis.pixel_outline).", -1, methods,
};

PyMODINIT_FUNC
PyInit_fast_parts(void)
{
    return PyModule_Create(&module);
}
