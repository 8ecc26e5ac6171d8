/*
 * wsproto_lite._speedups: optional compiled helpers for wsproto_lite.
 *
 * apply_mask(data, key) -> bytes
 *     XOR a bytes-like *data* with the 4-byte *key* repeated (RFC 6455 §5.3).
 *     The result is allocated once and written in place: no other copy.
 *
 * apply_mask_slice(data, start, end, key) -> bytes
 *     apply_mask(data[start:end], key) without the copy that the slice makes:
 *     it reads the payload where it lies in the receive buffer.
 *
 * apply_mask_join(pieces, key) -> bytes
 *     apply_mask(b"".join(pieces), key) without the joined copy: the pieces
 *     of a frame that arrived in several reads are unmasked straight into
 *     the one result.
 *
 * mask_frame(header, payload, key) -> bytes
 *     header + key + apply_mask(payload, key): a masked frame (RFC 6455 §5.2)
 *     written into one new bytes object, without the copy that concatenating
 *     the masked payload to the header makes.
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

/*
 * Get a contiguous view of obj into *view. A non-contiguous buffer (a strided
 * memoryview) is copied once into a new bytes object, returned in *copy for
 * the caller to release after the view; otherwise *copy is NULL.
 */
static int
get_contiguous(PyObject *obj, Py_buffer *view, PyObject **copy)
{
    *copy = NULL;
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) == 0) {
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_BufferError)) {
        return -1;
    }
    PyErr_Clear();
    *copy = PyBytes_FromObject(obj);
    if (*copy == NULL) {
        return -1;
    }
    if (PyObject_GetBuffer(*copy, view, PyBUF_SIMPLE) < 0) {
        Py_CLEAR(*copy);
        return -1;
    }
    return 0;
}

/* Get the 4-byte key into *key (released by the caller on success). */
static int
get_key(PyObject *obj, Py_buffer *key)
{
    if (PyObject_GetBuffer(obj, key, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (key->len != 4) {
        PyErr_Format(PyExc_ValueError, "the masking key must be 4 bytes, not %zd", key->len);
        PyBuffer_Release(key);
        return -1;
    }
    return 0;
}

/* A new bytes object: n bytes of src masked with key. */
static PyObject *
masked_bytes(const unsigned char *src, Py_ssize_t n, const unsigned char *key)
{
    PyObject *result = PyBytes_FromStringAndSize(NULL, n);
    if (result != NULL && n > 0) {
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(result);
        if ((size_t)n >= WSL_NOGIL_MIN) {
            Py_BEGIN_ALLOW_THREADS
            mask_bytes(dst, src, (size_t)n, key);
            Py_END_ALLOW_THREADS
        }
        else {
            mask_bytes(dst, src, (size_t)n, key);
        }
    }
    return result;
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
    PyObject *copy, *result;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "apply_mask() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (get_key(args[1], &key) < 0) {
        return NULL;
    }
    if (get_contiguous(args[0], &data, &copy) < 0) {
        PyBuffer_Release(&key);
        return NULL;
    }
    result = masked_bytes((const unsigned char *)data.buf, data.len, (const unsigned char *)key.buf);
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    Py_XDECREF(copy);
    return result;
}

PyDoc_STRVAR(apply_mask_slice_doc,
"apply_mask_slice(data, start, end, key, /)\n"
"--\n"
"\n"
"Return apply_mask(data[start:end], key) without copying the slice first.\n"
"\n"
"Requires 0 <= start <= end <= len(data) (ValueError otherwise).");

static PyObject *
apply_mask_slice(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, key;
    PyObject *copy, *result = NULL;
    Py_ssize_t start, end;

    (void)module;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError,
                     "apply_mask_slice() takes exactly 4 arguments (%zd given)", nargs);
        return NULL;
    }
    start = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    end = PyNumber_AsSsize_t(args[2], PyExc_OverflowError);
    if (end == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (get_key(args[3], &key) < 0) {
        return NULL;
    }
    if (get_contiguous(args[0], &data, &copy) < 0) {
        PyBuffer_Release(&key);
        return NULL;
    }
    if (start < 0 || start > end || end > data.len) {
        PyErr_Format(PyExc_ValueError,
                     "apply_mask_slice() needs 0 <= start <= end <= len(data),"
                     " got start=%zd, end=%zd, len(data)=%zd", start, end, data.len);
    }
    else {
        result = masked_bytes((const unsigned char *)data.buf + start, end - start,
                              (const unsigned char *)key.buf);
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    Py_XDECREF(copy);
    return result;
}

PyDoc_STRVAR(apply_mask_join_doc,
"apply_mask_join(pieces, key, /)\n"
"--\n"
"\n"
"Return apply_mask(b\"\".join(pieces), key) without joining the pieces first.\n"
"\n"
"*pieces* is a list or tuple of bytes-like objects: consecutive parts of one\n"
"masked payload (the key carries on from one piece to the next).");

static PyObject *
apply_mask_join(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer key;
    Py_buffer *views = NULL;
    PyObject **copies = NULL;
    PyObject *seq, *result = NULL;
    Py_ssize_t count, got = 0, i, total = 0;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "apply_mask_join() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    seq = PySequence_Fast(args[0], "apply_mask_join() needs a list or tuple of pieces");
    if (seq == NULL) {
        return NULL;
    }
    if (get_key(args[1], &key) < 0) {
        Py_DECREF(seq);
        return NULL;
    }
    count = PySequence_Fast_GET_SIZE(seq);
    views = PyMem_New(Py_buffer, count > 0 ? count : 1);
    copies = PyMem_New(PyObject *, count > 0 ? count : 1);
    if (views == NULL || copies == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* First every piece's buffer and the total length... */
    for (; got < count; got++) {
        if (get_contiguous(PySequence_Fast_GET_ITEM(seq, got), &views[got], &copies[got]) < 0) {
            goto done;
        }
        if (views[got].len > PY_SSIZE_T_MAX - total) {
            PyBuffer_Release(&views[got]);
            Py_XDECREF(copies[got]);
            PyErr_SetString(PyExc_OverflowError, "apply_mask_join(): the result is too long");
            goto done;
        }
        total += views[got].len;
    }
    /* ...then one result, each piece masked into place with the key rotated
     * to the piece's offset in the payload. */
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result != NULL) {
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(result);
        const unsigned char *k = (const unsigned char *)key.buf;
        size_t offset = 0;
        for (i = 0; i < count; i++) {
            unsigned char rotated[4];
            size_t n = (size_t)views[i].len;
            int j;
            if (n == 0) {
                continue;
            }
            for (j = 0; j < 4; j++) {
                rotated[j] = k[(offset + (size_t)j) & 3];
            }
            if (n >= WSL_NOGIL_MIN) {
                Py_BEGIN_ALLOW_THREADS
                mask_bytes(dst + offset, (const unsigned char *)views[i].buf, n, rotated);
                Py_END_ALLOW_THREADS
            }
            else {
                mask_bytes(dst + offset, (const unsigned char *)views[i].buf, n, rotated);
            }
            offset += n;
        }
    }
done:
    for (i = 0; i < got; i++) {
        PyBuffer_Release(&views[i]);
        Py_XDECREF(copies[i]);
    }
    PyMem_Free(views);
    PyMem_Free(copies);
    PyBuffer_Release(&key);
    Py_DECREF(seq);
    return result;
}

PyDoc_STRVAR(mask_frame_doc,
"mask_frame(header, payload, key, /)\n"
"--\n"
"\n"
"Return header + key + apply_mask(payload, key): a masked frame, in one copy.");

static PyObject *
mask_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer header, payload, key;
    PyObject *copy, *result = NULL;

    (void)module;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "mask_frame() takes exactly 3 arguments (%zd given)", nargs);
        return NULL;
    }
    if (get_key(args[2], &key) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &header, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&key);
        return NULL;
    }
    if (get_contiguous(args[1], &payload, &copy) < 0) {
        PyBuffer_Release(&header);
        PyBuffer_Release(&key);
        return NULL;
    }
    if (payload.len > PY_SSIZE_T_MAX - 4 - header.len) {
        PyErr_SetString(PyExc_OverflowError, "mask_frame(): the frame is too long");
    }
    else {
        result = PyBytes_FromStringAndSize(NULL, header.len + 4 + payload.len);
    }
    if (result != NULL) {
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(result);
        const unsigned char *k = (const unsigned char *)key.buf;
        size_t n = (size_t)payload.len;
        memcpy(dst, header.buf, (size_t)header.len);
        memcpy(dst + header.len, k, 4);
        dst += header.len + 4;
        if (n >= WSL_NOGIL_MIN) {
            Py_BEGIN_ALLOW_THREADS
            mask_bytes(dst, (const unsigned char *)payload.buf, n, k);
            Py_END_ALLOW_THREADS
        }
        else if (n > 0) {
            mask_bytes(dst, (const unsigned char *)payload.buf, n, k);
        }
    }
    PyBuffer_Release(&payload);
    PyBuffer_Release(&header);
    PyBuffer_Release(&key);
    Py_XDECREF(copy);
    return result;
}

PyDoc_STRVAR(unmask_payloads_doc,
"unmask_payloads(prefix, data, bounds, /)\n"
"--\n"
"\n"
"Return prefix + the payloads data[s:e] of consecutive masked frames, each\n"
"unmasked with the 4-byte key just before it (data[s-4:s], RFC 6455 5.2),\n"
"in one copy. *bounds* is a list or tuple [s0, e0, s1, e1, ...] with\n"
"4 <= s <= e <= len(data) for each pair (ValueError otherwise).");

static PyObject *
unmask_payloads(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer prefix, data;
    PyObject *prefix_copy = NULL, *data_copy = NULL, *seq = NULL, *result = NULL;
    Py_ssize_t count, i, total;

    (void)module;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError,
                     "unmask_payloads() takes exactly 3 arguments (%zd given)", nargs);
        return NULL;
    }
    if (get_contiguous(args[0], &prefix, &prefix_copy) < 0) {
        return NULL;
    }
    if (get_contiguous(args[1], &data, &data_copy) < 0) {
        PyBuffer_Release(&prefix);
        Py_XDECREF(prefix_copy);
        return NULL;
    }
    seq = PySequence_Fast(args[2], "unmask_payloads() needs a list or tuple of bounds");
    if (seq == NULL) {
        goto done;
    }
    count = PySequence_Fast_GET_SIZE(seq);
    if (count & 1) {
        PyErr_SetString(PyExc_ValueError, "unmask_payloads() needs pairs of bounds");
        goto done;
    }
    /* First check every pair and add up the length... */
    total = prefix.len;
    for (i = 0; i < count; i += 2) {
        Py_ssize_t start = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, i));
        Py_ssize_t end = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, i + 1));
        if ((start == -1 || end == -1) && PyErr_Occurred()) {
            goto done;
        }
        if (start < 4 || start > end || end > data.len) {
            PyErr_Format(PyExc_ValueError,
                         "unmask_payloads() needs 4 <= start <= end <= len(data),"
                         " got start=%zd, end=%zd, len(data)=%zd", start, end, data.len);
            goto done;
        }
        total += end - start;  /* (each at most len(data): no overflow in practice) */
        if (total < 0) {
            PyErr_SetString(PyExc_OverflowError, "unmask_payloads(): the result is too long");
            goto done;
        }
    }
    /* ...then one result: the prefix, and each payload unmasked into place. */
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result != NULL) {
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(result);
        const unsigned char *src = (const unsigned char *)data.buf;
        if (prefix.len > 0) {
            memcpy(dst, prefix.buf, (size_t)prefix.len);
            dst += prefix.len;
        }
        for (i = 0; i < count; i += 2) {
            Py_ssize_t start = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, i));
            Py_ssize_t end = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, i + 1));
            mask_bytes(dst, src + start, (size_t)(end - start), src + start - 4);
            dst += end - start;
        }
    }
done:
    Py_XDECREF(seq);
    PyBuffer_Release(&data);
    Py_XDECREF(data_copy);
    PyBuffer_Release(&prefix);
    Py_XDECREF(prefix_copy);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL, apply_mask_doc},
    {"apply_mask_slice", (PyCFunction)(void (*)(void))apply_mask_slice, METH_FASTCALL,
     apply_mask_slice_doc},
    {"apply_mask_join", (PyCFunction)(void (*)(void))apply_mask_join, METH_FASTCALL,
     apply_mask_join_doc},
    {"mask_frame", (PyCFunction)(void (*)(void))mask_frame, METH_FASTCALL, mask_frame_doc},
    {"unmask_payloads", (PyCFunction)(void (*)(void))unmask_payloads, METH_FASTCALL,
     unmask_payloads_doc},
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
