/* Exact per-run sums on a fixed grid, compiled: the same method as extract.py's run_sums
 * (Rump, Ogita and Oishi's ExtractScalar), one pass over each run for its largest magnitude,
 * then one pass per level over blocks of BLOCK values (in the cache), with the GIL released;
 * and the carrying and correct rounding of rows of digits (digits.py's carry and
 * rounded_positive). Optional: when
 * this module is not built, numpy's versions run and every result is the same.
 *
 * For a run of n finite doubles below 2**E in magnitude and W = min(50, 53 - bitlength(n)),
 * level l adds and subtracts C_l = 1.5 * 2**(E - (l + 1) W + 52): the piece p = (r + C_l) - C_l
 * and the rest r - p are exact, and any sum of n pieces of one level is exact in any order.
 * Rests left after LEVELS levels (or when C_l would not be a normal double) are handed back.
 * What is summed may be derived from each value v, a block at a time: v * v (the run's bound
 * the square of its largest magnitude) or exp(-v) for v >= 0 (exponential.py's exp; bound 1).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "double arithmetic must round to double (no excess precision)"
#endif

#define LEVELS 3
#define NON_FINITE (-1)
#define TOO_MANY_LEFT (-2)
/* What run_sums sums of each value v: v itself, v * v, or exp(-v) (for v >= 0). */
#define VALUES 0
#define SQUARES 1
#define EXPS 2

static int bit_length(Py_ssize_t n) {
    int bits = 0;
    while (n > 0) {
        bits++;
        n >>= 1;
    }
    return bits;
}

typedef struct {
    const double *values;
    Py_ssize_t n_values;
    const int64_t *starts; /* NULL: one run of all values */
    Py_ssize_t n_runs;
    double *sums; /* LEVELS x n_runs, level-major */
    int64_t *left_positions;
    double *left_values;
    Py_ssize_t capacity; /* room for values left over */
    Py_ssize_t n_left;
    int derive;            /* VALUES, SQUARES or EXPS */
    const uint64_t *table; /* EXPS: exp's table */
} Job;

#if !defined(__GNUC__)
#error "GCC or clang vector extensions expected"
#endif
#define LANES 4 /* values at a time, in independent sums: no addition waits on another */
typedef double Doubles __attribute__((vector_size(8 * LANES)));
typedef int64_t Bits __attribute__((vector_size(8 * LANES)));
typedef uint64_t Words __attribute__((vector_size(8 * LANES)));
#define MAGNITUDE 0x7fffffffffffffffLL /* |x| as bits; for x >= 0 integer order is order */
#define INF_BITS 0x7ff0000000000000LL

#if !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define WIDE __attribute__((target_clones("avx2", "default"))) /* picked at load time */
#else
#define WIDE
#endif

/* The larger of two vectors of magnitudes' bits, lane by lane. */
#define LARGER(a, b) (((a) & ((a) > (b))) | ((b) & ~((a) > (b))))

/* The largest magnitude of values[a:b]; -1 if one is inf or NaN. */
WIDE static double largest(const double *values, Py_ssize_t a, Py_ssize_t b) {
    Bits most = {0, 0, 0, 0};
    Py_ssize_t t = a;
    for (; t + LANES <= b; t += LANES) {
        Bits x;
        memcpy(&x, values + t, sizeof x);
        x &= MAGNITUDE;
        most = LARGER(x, most);
    }
    int64_t top = 0;
    for (int k = 0; k < LANES; k++) {
        top = most[k] > top ? most[k] : top;
    }
    for (; t < b; t++) {
        int64_t x;
        memcpy(&x, values + t, sizeof x);
        x &= MAGNITUDE;
        top = x > top ? x : top;
    }
    double found;
    memcpy(&found, &top, sizeof found);
    return top >= INF_BITS ? -1.0 : found;
}

/* One level of pieces of in[0:n], summed into sum; the rests written to rest[0:n] (which
 * may be in itself); returns whether a rest is not zero. */
WIDE static int level(const double *in, double *rest, Py_ssize_t n, double big, double *sum) {
    Doubles acc = {0.0, 0.0, 0.0, 0.0}, grid = {big, big, big, big};
    Bits left = {0, 0, 0, 0};
    Py_ssize_t t = 0;
    for (; t + LANES <= n; t += LANES) {
        Doubles x, piece, r;
        memcpy(&x, in + t, sizeof x);
        piece = (x + grid) - grid;
        r = x - piece;
        acc += piece;
        left |= (Bits)r & MAGNITUDE;
        memcpy(rest + t, &r, sizeof r);
    }
    double total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    int64_t any = left[0] | left[1] | left[2] | left[3];
    for (; t < n; t++) {
        double piece = (in[t] + big) - big;
        double r = in[t] - piece;
        total += piece;
        any |= r != 0.0;
        rest[t] = r;
    }
    *sum = total; /* (exact: multiples of one grid, far below 2**53 of it) */
    return any != 0;
}

/* frexp's exponent of a positive double: x < 2**exponent. */
static int exponent_of(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int biased = (int)((bits >> 52) & 0x7ff);
    if (biased == 0) { /* subnormal */
        int exponent;
        frexp(x, &exponent);
        return exponent;
    }
    return biased - 1022;
}

/* 1.5 * 2**shift, for -1000 < shift < 1000. */
static double one_and_a_half(int shift) {
    uint64_t bits = ((uint64_t)(shift + 1023) << 52) | ((uint64_t)1 << 51);
    double x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* exp of each value: exponential.py's method, step for step (every operation an IEEE double
 * operation; the build passes -ffp-contract=off, so no multiply-add is fused), hence the same
 * bits as its numpy version. table: N pairs (the bits of t_j, those of s_j less j << 45). */
#define EXP_N 128
static double exp_scaled(double x, const uint64_t *table, int shift) {
    double kd = x * 0x1.71547652b82fep+7 + 0x1.8p52;
    uint64_t ki;
    memcpy(&ki, &kd, 8);
    kd -= 0x1.8p52;
    double r = (x - kd * 0x1.62e42ff000000p-8) - kd * -0x1.718432a1b0e26p-42;
    uint64_t j = ki % EXP_N;
    double tail, scale;
    memcpy(&tail, &table[2 * j], 8);
    uint64_t bits = table[2 * j + 1] + (ki << 45) + ((uint64_t)(int64_t)shift << 52);
    memcpy(&scale, &bits, 8);
    double r2 = r * r;
    double tmp = tail + r + r2 * (0.5 + r * (1.0 / 6)) + r2 * r2 * (1.0 / 24 + r * (1.0 / 120));
    double y = scale + scale * tmp;
    return shift == 0 ? y : shift > 0 ? y * 0x1p-1022 : y * 0x1p1009;
}

/* The same steps on LANES values at once (x all within [-708, 709]). */
static inline __attribute__((always_inline)) Doubles exp_lanes(Doubles x,
                                                              const uint64_t *table) {
    Doubles kd = x * 0x1.71547652b82fep+7 + 0x1.8p52;
    Words ki = (Words)kd; /* (unsigned: the shifts and sums below wrap, as in exp_scaled) */
    kd -= 0x1.8p52;
    Doubles r = (x - kd * 0x1.62e42ff000000p-8) - kd * -0x1.718432a1b0e26p-42;
    Words j = ki & (EXP_N - 1), sbits;
    Doubles tail;
    for (int lane = 0; lane < LANES; lane++) {
        memcpy(&tail[lane], &table[2 * j[lane]], 8);
        sbits[lane] = table[2 * j[lane] + 1];
    }
    sbits += ki << 45;
    Doubles scale = (Doubles)sbits, r2 = r * r;
    Doubles tmp = tail + r + r2 * (0.5 + r * (1.0 / 6)) + r2 * r2 * (1.0 / 24 + r * (1.0 / 120));
    return scale + scale * tmp;
}

static double exp_one(double v, const uint64_t *table) {
    if (v >= -708.0 && v <= 709.0) {
        return exp_scaled(v, table, 0);
    }
    if (v < -746.0) {
        return 0.0;
    }
    if (v > 709.79) {
        return HUGE_VAL;
    }
    if (v < -708.0) {
        return exp_scaled(v, table, 1022);
    }
    return exp_scaled(v, table, v > 709.0 ? -1009 : 0); /* (0: NaN) */
}

WIDE static void exp_values(const double *x, Py_ssize_t n, const uint64_t *table, double *out) {
    Py_ssize_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        Doubles v;
        memcpy(&v, x + i, sizeof v);
        Bits inside = (v >= -708.0) & (v <= 709.0);
        if (inside[0] & inside[1] & inside[2] & inside[3]) {
            Doubles y = exp_lanes(v, table);
            memcpy(out + i, &y, sizeof y);
        } else {
            for (int lane = 0; lane < LANES; lane++) {
                out[i + lane] = exp_one(x[i + lane], table);
            }
        }
    }
    for (; i < n; i++) {
        out[i] = exp_one(x[i], table);
    }
}

#define BLOCK 2048 /* values split at a time (their rests stay in the cache) */

/* exp(-v) of each value into out; 0 if a value is NaN or below 0 (exp(-v) > 1). */
WIDE static int exps_of_negated(const double *v, Py_ssize_t n, const uint64_t *table,
                                double *out) {
    Bits bad = {0, 0, 0, 0};
    Py_ssize_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        Doubles x;
        memcpy(&x, v + i, sizeof x);
        bad |= ~(x >= 0.0);
        x = -x;
        Bits inside = (x >= -708.0);
        if (inside[0] & inside[1] & inside[2] & inside[3]) {
            Doubles y = exp_lanes(x, table);
            memcpy(out + i, &y, sizeof y);
        } else {
            for (int lane = 0; lane < LANES; lane++) {
                out[i + lane] = exp_one(x[lane], table);
            }
        }
    }
    int ok = !(bad[0] | bad[1] | bad[2] | bad[3]);
    for (; i < n; i++) {
        ok &= v[i] >= 0.0;
        out[i] = exp_one(-v[i], table);
    }
    return ok;
}

/* Each value squared into out. */
WIDE static void squares(const double *v, Py_ssize_t n, double *out) {
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = v[i] * v[i];
    }
}

/* A bound on the magnitudes of what is summed of values[a:b] (job->derive): the largest
 * magnitude, its square (squaring keeps the order of magnitudes), or 1 (exp(-v) for v >= 0,
 * checked block by block); -1 if one is inf or NaN (or a square overflows). */
static double bound(const Job *job, Py_ssize_t a, Py_ssize_t b) {
    if (job->derive == EXPS) {
        return 1.0;
    }
    double top = largest(job->values, a, b);
    if (job->derive == SQUARES && top > 0.0) {
        top *= top;
        return top > DBL_MAX ? -1.0 : top;
    }
    return top;
}

/* Levels used (0..LEVELS), NON_FINITE or TOO_MANY_LEFT. */
static int run_sums(Job *job) {
    int used = 0;
    double rest[BLOCK], derived[BLOCK];
    job->n_left = 0;
    for (Py_ssize_t i = 0; i < job->n_runs; i++) {
        Py_ssize_t a = job->starts ? (Py_ssize_t)job->starts[i] : 0;
        Py_ssize_t b = (job->starts && i + 1 < job->n_runs) ? (Py_ssize_t)job->starts[i + 1]
                                                             : job->n_values;
        double top = bound(job, a, b);
        if (top < 0.0) {
            return NON_FINITE;
        }
        double sums[LEVELS] = {0.0, 0.0, 0.0};
        double big[LEVELS];
        int levels = 0;
        if (top > 0.0) { /* one grid for the run: any sum of its pieces of a level is exact */
            int width = 53 - bit_length(b - a);
            width = width > 50 ? 50 : width;
            int exponent = exponent_of(top);
            for (; levels < LEVELS; levels++) {
                int shift = exponent - (levels + 1) * width + 52;
                if (!(-1000 < shift && shift < 1000)) {
                    break;
                }
                big[levels] = one_and_a_half(shift);
            }
        }
        int deepest = 0;
        for (Py_ssize_t from = a; top > 0.0 && from < b; from += BLOCK) {
            Py_ssize_t n = b - from < BLOCK ? b - from : BLOCK;
            const double *in = job->values + from;
            if (job->derive == SQUARES) {
                squares(in, n, derived);
                in = derived;
            } else if (job->derive == EXPS) {
                if (!exps_of_negated(in, n, job->table, derived)) {
                    return NON_FINITE;
                }
                in = derived;
            }
            int l = 0, left = 1;
            for (; left && l < levels; l++) {
                double part;
                left = level(in, rest, n, big[l], &part);
                sums[l] += part;
                in = rest;
            }
            deepest = l > deepest ? l : deepest;
            for (Py_ssize_t t = 0; left && t < n; t++) {
                if (in[t] != 0.0) {
                    if (job->n_left == job->capacity) {
                        return TOO_MANY_LEFT;
                    }
                    job->left_positions[job->n_left] = from + t;
                    job->left_values[job->n_left] = in[t];
                    job->n_left++;
                }
            }
        }
        for (int l = 0; l < LEVELS; l++) {
            job->sums[l * job->n_runs + i] = sums[l];
        }
        used = deepest > used ? deepest : used;
    }
    return used;
}

static int view(PyObject *object, Py_buffer *buffer, int writable, const char *name) {
    if (PyObject_GetBuffer(object, buffer, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS
                                                    : PyBUF_C_CONTIGUOUS) < 0) {
        return -1;
    }
    if (buffer->len % 8) {
        PyBuffer_Release(buffer);
        PyErr_Format(PyExc_ValueError, "%s: 8-byte items expected", name);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(run_sums_doc,
             "run_sums(values, starts, sums, left_positions, left_values, derive=0, table=None)"
             " -> (levels, n_left)\n\n"
             "values: float64; starts: int64 run starts (from 0, increasing) or None for one "
             "run; sums: float64 of LEVELS x runs, written; left_*: room for values left over; "
             "derive: sum each value v (0), v * v (1) or exp(-v) (2, with exp's table: see "
             "exponential.py). levels: -1 if a value is not finite (or, 2, below 0), -2 if more "
             "are left over than there is room.");

/* Runs from 0, increasing, each non-empty and within the values. */
static int valid_starts(const int64_t *starts, Py_ssize_t n_runs, Py_ssize_t n_values) {
    if (starts[0] != 0) {
        return 0;
    }
    for (Py_ssize_t i = 1; i < n_runs; i++) {
        if (!(starts[i - 1] < starts[i] && starts[i] < n_values)) {
            return 0;
        }
    }
    return 1;
}

static PyObject *py_run_sums(PyObject *self, PyObject *args) {
    PyObject *objects[6] = {NULL, NULL, NULL, NULL, NULL, Py_None};
    int derive = VALUES;
    if (!PyArg_ParseTuple(args, "OOOOO|iO:run_sums", &objects[0], &objects[1], &objects[2],
                          &objects[3], &objects[4], &derive, &objects[5])) {
        return NULL;
    }
    static const char *names[6] = {"values", "starts", "sums", "left_positions", "left_values",
                                   "table"};
    Py_buffer buffers[6];
    int held = 0;
    PyObject *result = NULL;
    for (; held < 6; held++) {
        if ((held == 1 || held == 5) && objects[held] == Py_None) {
            buffers[held].obj = NULL;
            continue;
        }
        if (view(objects[held], &buffers[held], held >= 2 && held <= 4, names[held]) < 0) {
            goto release;
        }
    }
    Job job = {
        .values = buffers[0].buf,
        .n_values = buffers[0].len / 8,
        .starts = buffers[1].obj ? buffers[1].buf : NULL,
        .n_runs = buffers[1].obj ? buffers[1].len / 8 : 1,
        .sums = buffers[2].buf,
        .left_positions = buffers[3].buf,
        .left_values = buffers[4].buf,
        .capacity = (buffers[3].len < buffers[4].len ? buffers[3].len : buffers[4].len) / 8,
        .n_left = 0,
        .derive = derive,
        .table = buffers[5].obj ? buffers[5].buf : NULL,
    };
    if (derive != VALUES && derive != SQUARES && derive != EXPS) {
        PyErr_SetString(PyExc_ValueError, "derive: 0 (values), 1 (squares) or 2 (exps)");
    } else if (derive == EXPS && (!job.table || buffers[5].len != 2 * EXP_N * 8)) {
        PyErr_SetString(PyExc_ValueError, "derive 2 (exps): exp's table of 2 x 128 expected");
    } else if (job.n_values == 0 || job.n_runs == 0) {
        PyErr_SetString(PyExc_ValueError, "values and runs must not be empty");
    } else if (job.starts && !valid_starts(job.starts, job.n_runs, job.n_values)) {
        PyErr_SetString(PyExc_ValueError, "starts: from 0, increasing, within the values");
    } else if (buffers[2].len / 8 < LEVELS * job.n_runs) {
        PyErr_SetString(PyExc_ValueError, "sums: room for LEVELS x runs expected");
    } else {
        int used;
        Py_BEGIN_ALLOW_THREADS;
        used = run_sums(&job);
        Py_END_ALLOW_THREADS;
        result = Py_BuildValue("(in)", used, job.n_left);
    }
release:
    while (held-- > 0) {
        if (buffers[held].obj) {
            PyBuffer_Release(&buffers[held]);
        }
    }
    return result;
}

/* Rows of normalised radix-2**26 digits (row value sum_j d_j 2**(26 (d0 + j)); every digit but
 * the top in [0, 2**26), the top in [-2**26, 2**26)) correctly rounded to double, ties to
 * even, for the rows whose value is positive and whose result is a normal double: the same
 * as digits.py's rounded_positive. With a, b, c, d the top four digits and k + 1 the bits of
 * a: q = (a << 52 - k) + ((b << 26) + c >> k) holds the top 53 bits, the next bits rem decide
 * against half = 2**(k + 25), and any lower digit is the sticky bit. */
static void round_rows(const int64_t *digits, Py_ssize_t n, Py_ssize_t width, long long d0,
                       uint8_t *done, double *out) {
    for (Py_ssize_t i = 0; i < n; i++) {
        const int64_t *row = digits + i * width;
        Py_ssize_t t = width - 1;
        while (t >= 0 && row[t] == 0) {
            t--;
        }
        done[i] = 0;
        out[i] = 0.0;
        if (t < 0 || row[t] <= 0) {
            continue;
        }
        int64_t a = row[t], b = t >= 1 ? row[t - 1] : 0, c = t >= 2 ? row[t - 2] : 0;
        int64_t d = t >= 3 ? row[t - 3] : 0;
        int sticky = 0;
        for (Py_ssize_t j = 0; j + 3 < t; j++) {
            sticky |= row[j] != 0;
        }
        int k = 63 - __builtin_clzll((unsigned long long)a);
        int64_t low = (b << 26) + c;
        int64_t q = (a << (52 - k)) + (low >> k);
        int64_t rem = ((low & (((int64_t)1 << k) - 1)) << 26) + d;
        int64_t half = (int64_t)1 << (k + 25);
        q += (rem > half) | ((rem == half) & (sticky | (int)(q & 1)));
        long long exponent = k + 26 * (d0 + (long long)t - 2);
        if (-1000 < exponent && exponent < 960) {
            done[i] = 1;
            out[i] = ldexp((double)q, (int)exponent);
        }
    }
}

PyDoc_STRVAR(rounded_positive_doc,
             "rounded_positive(digits, width, d0, done, out) -> None\n\n"
             "digits: int64 rows of `width` normalised digits; done (uint8) and out (float64), "
             "one per row, written: see digits.py's rounded_positive.");

static PyObject *py_rounded_positive(PyObject *self, PyObject *args) {
    PyObject *objects[3];
    Py_ssize_t width;
    long long d0;
    if (!PyArg_ParseTuple(args, "OnLOO:rounded_positive", &objects[0], &width, &d0,
                          &objects[1], &objects[2])) {
        return NULL;
    }
    Py_buffer digits, done, out;
    if (view(objects[0], &digits, 0, "digits") < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(objects[1], &done, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&digits);
        return NULL;
    }
    if (view(objects[2], &out, 1, "out") < 0) {
        PyBuffer_Release(&done);
        PyBuffer_Release(&digits);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n = width > 0 ? digits.len / 8 / width : 0;
    if (width <= 0 || digits.len / 8 != n * width || done.len < n || out.len / 8 < n) {
        PyErr_SetString(PyExc_ValueError, "rounded_positive: rows of width digits, one out each");
    } else if (d0 < -(1LL << 40) || d0 > (1LL << 40)) {
        PyErr_SetString(PyExc_ValueError, "rounded_positive: d0 out of range");
    } else {
        Py_BEGIN_ALLOW_THREADS;
        round_rows(digits.buf, n, width, d0, done.buf, out.buf);
        Py_END_ALLOW_THREADS;
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&out);
    PyBuffer_Release(&done);
    PyBuffer_Release(&digits);
    return result;
}

/* Carries rippled up each row of radix-2**26 digits, in place: every digit but the top is
 * left in [0, 2**26), its carry (arithmetic shift: floor) added to the next. The same as
 * digits.py's carry over the columns; |digit| < 2**62 keeps every step within int64.
 * Returns whether a top digit is left outside [-2**26, 2**26) (it needs a digit above). */
static int carry_rows(int64_t *digits, Py_ssize_t n, Py_ssize_t width) {
    int64_t outside = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t *row = digits + i * width;
        for (Py_ssize_t j = 0; j + 1 < width; j++) {
            row[j + 1] += row[j] >> 26;
            row[j] &= ((int64_t)1 << 26) - 1;
        }
        int64_t top = row[width - 1] >> 26;
        outside |= top ^ (top >> 63); /* 0 for top in {0, -1} */
    }
    return outside != 0;
}

PyDoc_STRVAR(carry_doc, "carry(digits, width) -> bool\n\n"
                        "digits: int64 rows of `width` digits, carried in place (every digit "
                        "but the top then in [0, 2**26)): see digits.py's carry. True if a top "
                        "digit is left outside [-2**26, 2**26).");

static PyObject *py_carry(PyObject *self, PyObject *args) {
    PyObject *object;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "On:carry", &object, &width)) {
        return NULL;
    }
    Py_buffer digits;
    if (view(object, &digits, 1, "digits") < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n = width > 0 ? digits.len / 8 / width : 0;
    if (width <= 0 || digits.len / 8 != n * width) {
        PyErr_SetString(PyExc_ValueError, "carry: rows of width digits");
    } else {
        int outside;
        Py_BEGIN_ALLOW_THREADS;
        outside = carry_rows(digits.buf, n, width);
        Py_END_ALLOW_THREADS;
        result = PyBool_FromLong(outside);
    }
    PyBuffer_Release(&digits);
    return result;
}

PyDoc_STRVAR(exp_doc, "exp(values, table, out) -> None\n\n"
                      "values, out: float64 (out written); table: uint64, 2 x 128: see "
                      "exponential.py.");

static PyObject *py_exp(PyObject *self, PyObject *args) {
    PyObject *objects[3];
    if (!PyArg_ParseTuple(args, "OOO:exp", &objects[0], &objects[1], &objects[2])) {
        return NULL;
    }
    static const char *names[3] = {"values", "table", "out"};
    Py_buffer buffers[3];
    int held = 0;
    for (; held < 3; held++) {
        if (view(objects[held], &buffers[held], held == 2, names[held]) < 0) {
            break;
        }
    }
    PyObject *result = NULL;
    if (held == 3) {
        Py_ssize_t n = buffers[0].len / 8;
        if (buffers[1].len != 2 * EXP_N * 8 || buffers[2].len / 8 < n) {
            PyErr_SetString(PyExc_ValueError, "exp: a table of 2 x 128 and an out per value");
        } else {
            Py_BEGIN_ALLOW_THREADS;
            exp_values(buffers[0].buf, n, buffers[1].buf, buffers[2].buf);
            Py_END_ALLOW_THREADS;
            result = Py_NewRef(Py_None);
        }
    }
    while (held-- > 0) {
        PyBuffer_Release(&buffers[held]);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"exp", py_exp, METH_VARARGS, exp_doc},
    {"carry", py_carry, METH_VARARGS, carry_doc},
    {"run_sums", py_run_sums, METH_VARARGS, run_sums_doc},
    {"rounded_positive", py_rounded_positive, METH_VARARGS, rounded_positive_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "Compiled exact-sum kernels (optional).", -1, methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && (PyModule_AddIntConstant(m, "LEVELS", LEVELS) < 0 ||
                      PyModule_AddIntConstant(m, "NON_FINITE", NON_FINITE) < 0 ||
                      PyModule_AddIntConstant(m, "TOO_MANY_LEFT", TOO_MANY_LEFT) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
