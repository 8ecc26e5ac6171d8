/*
 * wsproto_lite._speedups: optional compiled helpers for wsproto_lite.
 *
 * apply_mask(data, key) -> bytes
 *     XOR a bytes-like *data* with the 4-byte *key* repeated (RFC 6455 §5.3).
 *     The result is allocated once and written in place: no other copy.
 *
 * The loop works on 16-byte vectors (SSE2 on x86, NEON on ARM, when the
 * compiler targets them) and 8-byte words otherwise. The output pointer is
 * first brought to a 16-byte boundary byte by byte; the key is rotated by the
 * number of head bytes so that the wide mask lines up with the stream. Loads
 * from the input are unaligned (the input can start anywhere), stores go to
 * aligned memory. A byte loop finishes the tail.
 *
 * The pure-Python version in wsproto_lite/_mask.py has the same contract; the
 * tests (tests/test_mask.py) run both on the same vectors.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#define WSL_SIMD "sse2"
#define WSL_HAVE_SSE2 1
#elif defined(__ARM_NEON) || defined(__ARM_NEON__) || defined(_M_ARM64)
#include <arm_neon.h>
#define WSL_SIMD "neon"
#define WSL_HAVE_NEON 1
#else
#define WSL_SIMD "none"
#endif

/* Release the GIL for payloads at least this large (the input buffer is
 * pinned by the buffer protocol, so it cannot be resized meanwhile). */
#define WSL_NOGIL_MIN (1 << 20)

/*
 * XOR n bytes of src with the key (4 bytes, already in stream order for
 * src[0]) into dst. dst and src may not overlap partially (equal is fine).
 */
static void
mask_bytes(unsigned char *dst, const unsigned char *src, size_t n, const unsigned char key[4])
{
    unsigned char k[4];
    size_t i = 0;
    size_t head;

    memcpy(k, key, 4);

    /* Head: bring dst to a 16-byte boundary, then rotate the key to match. */
    head = (size_t)(-(uintptr_t)dst) & 15u;
    if (head > n) {
        head = n;
    }
    for (; i < head; i++) {
        dst[i] = src[i] ^ k[i & 3];
    }
    if (i == n) {
        return;
    }
    if (head & 3) {
        unsigned char r[4];
        int j;
        for (j = 0; j < 4; j++) {
            r[j] = k[(head + (size_t)j) & 3];
        }
        memcpy(k, r, 4);
    }
    /* From here on, dst + i is 16-byte aligned and k[0] masks src[i]. */
    {
        unsigned char pattern[16];
        int j;
        for (j = 0; j < 16; j++) {
            pattern[j] = k[j & 3];
        }
#if defined(WSL_HAVE_SSE2)
        {
            const __m128i m = _mm_loadu_si128((const __m128i *)pattern);
            for (; i + 64 <= n; i += 64) {
                __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
                __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
                __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
                __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
                _mm_store_si128((__m128i *)(dst + i), _mm_xor_si128(a, m));
                _mm_store_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, m));
                _mm_store_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, m));
                _mm_store_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, m));
            }
            for (; i + 16 <= n; i += 16) {
                __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
                _mm_store_si128((__m128i *)(dst + i), _mm_xor_si128(a, m));
            }
        }
#elif defined(WSL_HAVE_NEON)
        {
            const uint8x16_t m = vld1q_u8(pattern);
            for (; i + 64 <= n; i += 64) {
                uint8x16_t a = vld1q_u8(src + i);
                uint8x16_t b = vld1q_u8(src + i + 16);
                uint8x16_t c = vld1q_u8(src + i + 32);
                uint8x16_t d = vld1q_u8(src + i + 48);
                vst1q_u8(dst + i, veorq_u8(a, m));
                vst1q_u8(dst + i + 16, veorq_u8(b, m));
                vst1q_u8(dst + i + 32, veorq_u8(c, m));
                vst1q_u8(dst + i + 48, veorq_u8(d, m));
            }
            for (; i + 16 <= n; i += 16) {
                vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), m));
            }
        }
#endif
        /* 8-byte words: everything left without SIMD, the last < 16 with it. */
        {
            uint64_t m64;
            memcpy(&m64, pattern, 8);
            for (; i + 8 <= n; i += 8) {
                uint64_t w;
                memcpy(&w, src + i, 8); /* an unaligned load, one instruction */
                w ^= m64;
                memcpy(dst + i, &w, 8);
            }
        }
        /* Tail: fewer than 8 bytes; k[0] masks the byte at head + 4j. */
        for (; i < n; i++) {
            dst[i] = src[i] ^ k[(i - head) & 3];
        }
    }
}

PyDoc_STRVAR(apply_mask_doc,
"apply_mask(data, key, /)\n"
"--\n"
"\n"
"Return *data* XOR the 4-byte *key* repeated (RFC 6455 section 5.3), as bytes.\n"
"\n"
"*data* is any contiguous bytes-like object. Masking and unmasking are the\n"
"same operation.");

static PyObject *
apply_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, key;
    PyObject *result = NULL;
    PyObject *copy = NULL;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "apply_mask() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &key, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (key.len != 4) {
        PyErr_Format(PyExc_ValueError, "the masking key must be 4 bytes, not %zd", key.len);
        PyBuffer_Release(&key);
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        /* A non-contiguous buffer (a strided memoryview): copy it once. */
        if (!PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyBuffer_Release(&key);
            return NULL;
        }
        PyErr_Clear();
        copy = PyBytes_FromObject(args[0]);
        if (copy == NULL) {
            PyBuffer_Release(&key);
            return NULL;
        }
        if (PyObject_GetBuffer(copy, &data, PyBUF_SIMPLE) < 0) {
            Py_DECREF(copy);
            PyBuffer_Release(&key);
            return NULL;
        }
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL && data.len > 0) {
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(result);
        const unsigned char *src = (const unsigned char *)data.buf;
        const unsigned char *k = (const unsigned char *)key.buf;
        size_t n = (size_t)data.len;
        if (n >= WSL_NOGIL_MIN) {
            Py_BEGIN_ALLOW_THREADS
            mask_bytes(dst, src, n, k);
            Py_END_ALLOW_THREADS
        }
        else {
            mask_bytes(dst, src, n, k);
        }
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    Py_XDECREF(copy);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL, apply_mask_doc},
    {NULL, NULL, 0, NULL},
};

static int
speedups_exec(PyObject *module)
{
    return PyModule_AddStringConstant(module, "SIMD", WSL_SIMD);
}

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, (void *)speedups_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(speedups_doc,
"Optional compiled helpers for wsproto_lite (masking).\n"
"\n"
"SIMD names the vector instructions apply_mask was compiled with:\n"
"'sse2', 'neon' or 'none'.");

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "wsproto_lite._speedups",
    speedups_doc,
    0,
    speedups_methods,
    speedups_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
