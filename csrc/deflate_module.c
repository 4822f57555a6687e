/* roadmark.io.fast_deflate: zlib's raw deflate from the zlib copy in csrc/zlib (1.3.1, two
 * loops rewritten for speed; see csrc/zlib/README.roadmark), the same bytes as Python's
 * zlib.compress(data, level, wbits=-15) at levels 1 to 9.
 *
 * Built by setup.py as an optional extension: where it does not build,
 * roadmark.io.deflate uses Python's zlib.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>

#include "zlib.h"

/* zlib's allocator: zeroed memory, so that no byte zlib reads before writing it can
 * differ between runs */
static voidpf
zeroed(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return PyMem_RawCalloc(items, size);
}

static void
release(voidpf opaque, voidpf address)
{
    (void)opaque;
    PyMem_RawFree(address);
}

static PyObject *
raw_deflate(PyObject *module, PyObject *args)
{
    Py_buffer view;
    int level;
    if (!PyArg_ParseTuple(args, "y*i:compress", &view, &level)) {
        return NULL;
    }
    /* level 0 writes stored blocks whose sizes follow the caller's output buffers, so only
     * zlib.compress itself gives zlib.compress's bytes there */
    if ((level < 1 || level > 9) && level != Z_DEFAULT_COMPRESSION) {
        PyBuffer_Release(&view);
        PyErr_Format(PyExc_ValueError, "compression level %d is not 1 to 9 or -1", level);
        return NULL;
    }
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    stream.zalloc = zeroed;
    stream.zfree = release;
    /* zlib counts the whole input and output in uLong, 32 bits on some systems */
    if ((unsigned long long)view.len > (unsigned long long)((uLong)-1 / 2)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_OverflowError, "the data is too large for this zlib's counters");
        return NULL;
    }
    int status = deflateInit2(&stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    if (status != Z_OK) {
        PyBuffer_Release(&view);
        if (status == Z_MEM_ERROR) {
            return PyErr_NoMemory();
        }
        PyErr_Format(PyExc_RuntimeError, "deflate could not start (zlib status %d)", status);
        return NULL;
    }
    /* deflateBound is an upper bound of the raw stream at any level: one output buffer */
    uLong bound = deflateBound(&stream, (uLong)view.len);
    PyObject *out = NULL;
    if (bound > (uLong)PY_SSIZE_T_MAX || (out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)bound)) == NULL) {
        deflateEnd(&stream);
        PyBuffer_Release(&view);
        return out == NULL && !PyErr_Occurred() ? PyErr_NoMemory() : NULL;
    }
    const Bytef *next = (const Bytef *)view.buf;
    Py_ssize_t left = view.len;
    stream.next_out = (Bytef *)PyBytes_AS_STRING(out);
    stream.avail_out = 0;
    uLong room = bound;
    Py_BEGIN_ALLOW_THREADS
    do {  /* zlib counts in unsigned ints: feed and drain at most UINT_MAX at a time */
        if (stream.avail_in == 0) {
            stream.next_in = (Bytef *)next;
            stream.avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
            next += stream.avail_in;
            left -= stream.avail_in;
        }
        if (stream.avail_out == 0) {
            stream.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
            room -= stream.avail_out;
        }
        status = deflate(&stream, left == 0 ? Z_FINISH : Z_NO_FLUSH);
    } while (status == Z_OK);
    Py_END_ALLOW_THREADS
    uLong written = stream.total_out;
    deflateEnd(&stream);
    PyBuffer_Release(&view);
    if (status != Z_STREAM_END) {
        Py_DECREF(out);
        PyErr_Format(PyExc_RuntimeError, "deflate failed (zlib status %d)", status);
        return NULL;
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)written) < 0) {
        return NULL;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"compress", raw_deflate, METH_VARARGS,
     "compress(data, level) -> bytes: raw deflate (no zlib header or checksum), window 15,\n"
     "memory level 8, level 1 to 9 or -1; the same bytes as\n"
     "zlib.compress(data, level, wbits=-15)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fast_deflate",
    "zlib's raw deflate with a vectorized window slide (see roadmark.io.deflate).", -1, methods,
};

PyMODINIT_FUNC
PyInit_fast_deflate(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddStringConstant(m, "ZLIB_VERSION", ZLIB_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
