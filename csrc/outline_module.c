/* roadmark.analysis.fast_outline: the outlines of every label of a label image, traced
 * along pixel edges in one pass (roadmark.analysis.pixel_outline does the same with array
 * operations where this module is not built).
 *
 * Every pixel edge between two different values is an edge of each positive one, directed
 * so that the label's pixel is on its right (image coordinates, y down): +x along the top
 * of a pixel, +y down its left neighbour's right side, and so on. Following each edge by
 * the edge of the same label that leaves its end point gives the rings. Where two pixels
 * of a label touch only at a corner, two edges leave that point: the outline turns right,
 * around its own pixel, when they are separate 4-connected parts, and left when they are
 * one part (the caller's part image tells), so that rings never touch themselves.
 *
 * The rings come in the order pixel_outline gives them: by their first +x edge in raster
 * order (every ring has one, and pixel_outline numbers the +x edges first, row by row),
 * each from that edge on, with only the corners (the start of an edge whose direction
 * differs from the one before it) as vertices.
 *
 * Built by setup.py as an optional extension.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "growing.h"

/* A growing array of int64 values. */
typedef struct {
    int64_t *values;
    Py_ssize_t length, capacity;
} Values;

static int
push(Values *array, int64_t value)
{
    int64_t *values = grown(array->values, &array->capacity, array->length + 1,
                            sizeof(int64_t), 1024);
    if (values == NULL) {
        return -1;
    }
    array->values = values;
    array->values[array->length++] = value;
    return 0;
}

static PyObject *
as_bytes(const Values *array)
{
    return PyBytes_FromStringAndSize((const char *)array->values,
                                     array->length * (Py_ssize_t)sizeof(int64_t));
}

/* The value of padded pixel i, as a signed number (uint8 and uint16 are never negative). */
static inline int64_t
value_at(const void *pixels, Py_ssize_t itemsize, Py_ssize_t i)
{
    switch (itemsize) {
    case 1:
        return ((const uint8_t *)pixels)[i];
    case 2:
        return ((const uint16_t *)pixels)[i];
    default:
        return ((const int32_t *)pixels)[i];
    }
}

/* Directions 0 = +x, 1 = +y, 2 = -x, 3 = -y; a right turn of d is (d + 1) % 4. */
static const int STEP_X[4] = {1, 0, -1, 0};
static const int STEP_Y[4] = {0, 1, 0, -1};

typedef enum { TRACED, NEEDS_PARTS, NO_MEMORY, BROKEN } Outcome;

/* The rings of every positive label of a padded label image (a zero border all round),
 * appended to corners (x, y pairs, vertex coordinates of the unpadded image), starts (each
 * ring's first corner index) and owners (each ring's label). */
static Outcome
trace(const void *pixels, Py_ssize_t itemsize, Py_ssize_t height, Py_ssize_t width,
      const int32_t *parts, Values *corners, Values *starts, Values *owners)
{
    Py_ssize_t stride = width + 2;
    /* +x edges already in a ring: one flag per (vertex row, column) */
    uint8_t *visited = PyMem_RawCalloc((size_t)(height + 1) * (size_t)width, 1);
    if (visited == NULL) {
        return NO_MEMORY;
    }
    /* a ring has at most every pixel edge once */
    int64_t most_steps = 4 * (int64_t)(height + 1) * (int64_t)(width + 1);
    Outcome outcome = TRACED;
    for (Py_ssize_t y = 0; y <= height && outcome == TRACED; y++) {
        for (Py_ssize_t x = 0; x < width; x++) {
            /* a +x edge at vertex (x, y): the pixel below is the label, the one above not */
            int64_t label = value_at(pixels, itemsize, (y + 1) * stride + x + 1);
            if (label <= 0 || visited[y * width + x] ||
                value_at(pixels, itemsize, y * stride + x + 1) == label) {
                continue;
            }
            if (push(starts, corners->length / 2) < 0 || push(owners, label) < 0 ||
                push(corners, x) < 0 || push(corners, y) < 0) {
                outcome = NO_MEMORY;
                break;
            }
            visited[y * width + x] = 1;
            Py_ssize_t px = x + 1, py = y;
            int d = 0;
            for (int64_t step = 0;; step++) {
                if (step > most_steps) {
                    outcome = BROKEN;
                    break;
                }
                /* the four pixels around the vertex, clockwise from the north-west, in
                 * the padded image */
                Py_ssize_t around[4] = {py * stride + px, py * stride + px + 1,
                                        (py + 1) * stride + px + 1, (py + 1) * stride + px};
                /* behind on the right is the label (the incoming edge's own pixel) */
                Py_ssize_t ahead_right = around[(2 + d) % 4], ahead_left = around[(1 + d) % 4];
                int right = value_at(pixels, itemsize, ahead_right) != label;
                int left = value_at(pixels, itemsize, ahead_left) == label;
                int next;
                if (right && left) { /* the label's pixels touch at this corner */
                    if (parts == NULL) {
                        outcome = NEEDS_PARTS;
                        break;
                    }
                    Py_ssize_t behind_right = around[(3 + d) % 4];
                    next = parts[ahead_left] == parts[behind_right] ? (d + 3) % 4 : (d + 1) % 4;
                } else if (right) {
                    next = (d + 1) % 4;
                } else {
                    next = left ? (d + 3) % 4 : d;
                }
                if (next == 0 && px == x && py == y) {
                    break; /* back at the ring's first edge */
                }
                if (next != d && (push(corners, px) < 0 || push(corners, py) < 0)) {
                    outcome = NO_MEMORY;
                    break;
                }
                if (next == 0) {
                    visited[py * width + px] = 1;
                }
                d = next;
                px += STEP_X[d];
                py += STEP_Y[d];
            }
            if (outcome != TRACED) {
                break;
            }
        }
    }
    PyMem_RawFree(visited);
    return outcome;
}

static PyObject *
label_rings(PyObject *module, PyObject *args)
{
    Py_buffer labels, part_image = {0};
    PyObject *labels_object, *parts_object;
    Py_ssize_t itemsize, height, width;
    (void)module;
    if (!PyArg_ParseTuple(args, "OnnnO:label_rings", &labels_object, &itemsize, &height,
                          &width, &parts_object)) {
        return NULL;
    }
    if (PyObject_GetBuffer(labels_object, &labels, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        return NULL;
    }
    int have_parts = parts_object != Py_None;
    if (have_parts &&
        PyObject_GetBuffer(parts_object, &part_image, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&labels);
        return NULL;
    }
    const char *problem = NULL;
    if (itemsize != 1 && itemsize != 2 && itemsize != 4) {
        problem = "labels of 1, 2 or 4 bytes only";
    } else if (labels.itemsize != itemsize) {
        problem = "the labels' item size is not itemsize";
    } else if (height < 1 || width < 1 || height > INT32_MAX - 2 || width > INT32_MAX - 2 ||
               height + 2 > PY_SSIZE_T_MAX / 8 / (width + 2)) {
        problem = "height or width out of range";
    } else if (labels.len != (height + 2) * (width + 2) * itemsize) {
        problem = "the labels are not (height + 2) x (width + 2) values";
    } else if (have_parts &&
               part_image.len != (height + 2) * (width + 2) * (Py_ssize_t)sizeof(int32_t)) {
        problem = "the parts are not (height + 2) x (width + 2) 32-bit integers";
    }
    if (problem != NULL) {
        PyBuffer_Release(&labels);
        if (have_parts) {
            PyBuffer_Release(&part_image);
        }
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    Values corners = {0}, starts = {0}, owners = {0};
    Outcome outcome;
    Py_BEGIN_ALLOW_THREADS
    outcome = trace(labels.buf, itemsize, height, width,
                    have_parts ? (const int32_t *)part_image.buf : NULL, &corners, &starts,
                    &owners);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&labels);
    if (have_parts) {
        PyBuffer_Release(&part_image);
    }
    PyObject *result = NULL;
    if (outcome == TRACED) {
        result = Py_BuildValue("NNN", as_bytes(&corners), as_bytes(&starts), as_bytes(&owners));
    } else if (outcome == NEEDS_PARTS) {
        result = Py_NewRef(Py_None);
    } else if (outcome == NO_MEMORY) {
        PyErr_NoMemory();
    } else {
        PyErr_SetString(PyExc_RuntimeError, "an outline did not close");
    }
    PyMem_RawFree(corners.values);
    PyMem_RawFree(starts.values);
    PyMem_RawFree(owners.values);
    return result;
}

static PyMethodDef methods[] = {
    {"label_rings", label_rings, METH_VARARGS,
     "label_rings(padded, itemsize, height, width, parts) -> (corners, starts, owners) or\n"
     "None: the outline rings of every positive label of a C-contiguous label image padded\n"
     "with a zero border ((height + 2) x (width + 2) values of itemsize 1, 2 or 4 bytes).\n"
     "corners: bytes of int64 x, y pairs (vertex coordinates of the unpadded image), the\n"
     "rings one after another; starts: int64 index of each ring's first corner; owners:\n"
     "int64 label of each ring. parts: the padded image's 4-connected parts (int32, see\n"
     "fast_parts.label_parts) or None, which gives None back where pixels of a label touch\n"
     "at a corner (the parts are needed there)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fast_outline",
    "Outlines of a label image's labels traced in one pass (see\n"
    "roadmark.analysis.pixel_outline).", -1, methods,
};

PyMODINIT_FUNC
PyInit_fast_outline(void)
{
    return PyModule_Create(&module);
}
