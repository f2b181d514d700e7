/*
 * Thin wrappers over Linux syscalls that Node's fs module lacks.
 * No policy lives here: each function does one syscall and throws a
 * Node-style error (code, errno, syscall, path) when it fails.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define MAX_ARGS 6
#define PATH_BUF 4096

static napi_value throw_errno(napi_env env, int err, const char *syscall_name, const char *path) {
  char msg[PATH_BUF + 256];
  const char *code = uv_err_name(-err);
  if (path)
    snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, strerror(err), syscall_name, path);
  else
    snprintf(msg, sizeof msg, "%s: %s, %s", code, strerror(err), syscall_name);
  napi_value jmsg, jerr, jcode, jerrno, jsys;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_error(env, NULL, jmsg, &jerr);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode);
  napi_create_int32(env, -err, &jerrno);
  napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &jsys);
  napi_set_named_property(env, jerr, "code", jcode);
  napi_set_named_property(env, jerr, "errno", jerrno);
  napi_set_named_property(env, jerr, "syscall", jsys);
  if (path) {
    napi_value jpath;
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &jpath);
    napi_set_named_property(env, jerr, "path", jpath);
  }
  napi_throw(env, jerr);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = MAX_ARGS;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < want) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return 0;
  }
  return 1;
}

/* Copies a JS string into buf; an absent/null value yields NULL. */
static char *get_str(napi_env env, napi_value v, char *buf, size_t len, int nullable) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (nullable && (t == napi_null || t == napi_undefined)) return NULL;
  size_t n;
  if (napi_get_value_string_utf8(env, v, buf, len, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string");
    return NULL;
  }
  if (n >= len - 1) {
    napi_throw_range_error(env, NULL, "string argument too long");
    return NULL;
  }
  return buf;
}

static int64_t get_i64(napi_env env, napi_value v) {
  int64_t x = 0;
  napi_get_value_int64(env, v, &x);
  return x;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

/* mknod(path, mode, dev) */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char p[PATH_BUF];
  if (!get_args(env, info, 3, a) || !get_str(env, a[0], p, sizeof p, 0)) return NULL;
  if (mknod(p, (mode_t)get_i64(env, a[1]), (dev_t)get_i64(env, a[2])) != 0) return throw_errno(env, errno, "mknod", p);
  return undefined(env);
}

/* makedev(major, minor) -> number; major(dev), minor(dev) */
static napi_value js_makedev(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  if (!get_args(env, info, 2, a)) return NULL;
  return num(env, (double)makedev((unsigned)get_i64(env, a[0]), (unsigned)get_i64(env, a[1])));
}
static napi_value js_major(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  if (!get_args(env, info, 1, a)) return NULL;
  return num(env, (double)major((dev_t)get_i64(env, a[0])));
}
static napi_value js_minor(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  if (!get_args(env, info, 1, a)) return NULL;
  return num(env, (double)minor((dev_t)get_i64(env, a[0])));
}

/* lsetxattr(path, name, value: Buffer, flags) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char p[PATH_BUF], n[512];
  if (!get_args(env, info, 4, a) || !get_str(env, a[0], p, sizeof p, 0) || !get_str(env, a[1], n, sizeof n, 0)) return NULL;
  void *data; size_t len;
  if (napi_get_buffer_info(env, a[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "value must be a Buffer");
    return NULL;
  }
  if (lsetxattr(p, n, data, len, (int)get_i64(env, a[3])) != 0) return throw_errno(env, errno, "lsetxattr", p);
  return undefined(env);
}

/* lgetxattr(path, name) -> Buffer; throws ENODATA when absent */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char p[PATH_BUF], n[512];
  if (!get_args(env, info, 2, a) || !get_str(env, a[0], p, sizeof p, 0) || !get_str(env, a[1], n, sizeof n, 0)) return NULL;
  for (;;) {
    ssize_t sz = lgetxattr(p, n, NULL, 0);
    if (sz < 0) return throw_errno(env, errno, "lgetxattr", p);
    void *data;
    napi_value buf;
    napi_create_buffer(env, (size_t)sz, &data, &buf);
    ssize_t got = sz ? lgetxattr(p, n, data, (size_t)sz) : 0;
    if (got < 0 && errno == ERANGE) continue; /* grew between the calls */
    if (got < 0) return throw_errno(env, errno, "lgetxattr", p);
    if (got == sz) return buf;
    napi_value slice, start, end, fn, global;
    /* shrank between calls: return a sliced copy */
    napi_create_int64(env, 0, &start);
    napi_create_int64(env, got, &end);
    napi_get_named_property(env, buf, "subarray", &fn);
    napi_value args[2] = {start, end};
    napi_get_global(env, &global);
    napi_call_function(env, buf, fn, 2, args, &slice);
    return slice;
  }
}

/* llistxattr(path) -> string[] */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char p[PATH_BUF];
  if (!get_args(env, info, 1, a) || !get_str(env, a[0], p, sizeof p, 0)) return NULL;
  for (;;) {
    ssize_t sz = llistxattr(p, NULL, 0);
    if (sz < 0) return throw_errno(env, errno, "llistxattr", p);
    char *names = malloc(sz ? (size_t)sz : 1);
    ssize_t got = sz ? llistxattr(p, names, (size_t)sz) : 0;
    if (got < 0) {
      int e = errno;
      free(names);
      if (e == ERANGE) continue;
      return throw_errno(env, e, "llistxattr", p);
    }
    napi_value arr;
    napi_create_array(env, &arr);
    uint32_t i = 0;
    for (ssize_t off = 0; off < got;) {
      size_t l = strlen(names + off);
      napi_value s;
      napi_create_string_utf8(env, names + off, l, &s);
      napi_set_element(env, arr, i++, s);
      off += (ssize_t)l + 1;
    }
    free(names);
    return arr;
  }
}

/* lremovexattr(path, name) */
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char p[PATH_BUF], n[512];
  if (!get_args(env, info, 2, a) || !get_str(env, a[0], p, sizeof p, 0) || !get_str(env, a[1], n, sizeof n, 0)) return NULL;
  if (lremovexattr(p, n) != 0) return throw_errno(env, errno, "lremovexattr", p);
  return undefined(env);
}

/* lutimens(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec): nanosecond times, never follows a symlink */
static napi_value js_lutimens(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char p[PATH_BUF];
  if (!get_args(env, info, 5, a) || !get_str(env, a[0], p, sizeof p, 0)) return NULL;
  struct timespec ts[2];
  ts[0].tv_sec = get_i64(env, a[1]);
  ts[0].tv_nsec = get_i64(env, a[2]);
  ts[1].tv_sec = get_i64(env, a[3]);
  ts[1].tv_nsec = get_i64(env, a[4]);
  if (utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) != 0) return throw_errno(env, errno, "utimensat", p);
  return undefined(env);
}

/* renameat2(old, new, flags): RENAME_NOREPLACE=1, RENAME_EXCHANGE=2, RENAME_WHITEOUT=4 */
static napi_value js_renameat2(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char o[PATH_BUF], n[PATH_BUF];
  if (!get_args(env, info, 3, a) || !get_str(env, a[0], o, sizeof o, 0) || !get_str(env, a[1], n, sizeof n, 0)) return NULL;
  if (syscall(SYS_renameat2, AT_FDCWD, o, AT_FDCWD, n, (unsigned)get_i64(env, a[2])) != 0)
    return throw_errno(env, errno, "renameat2", o);
  return undefined(env);
}

/* mount(source, target, fstype, flags, data|null) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char s[PATH_BUF], t[PATH_BUF], f[64];
  char *data = malloc(65536);
  if (!get_args(env, info, 5, a) || !get_str(env, a[0], s, sizeof s, 0) || !get_str(env, a[1], t, sizeof t, 0) ||
      !get_str(env, a[2], f, sizeof f, 0)) {
    free(data);
    return NULL;
  }
  napi_value exc;
  char *d = get_str(env, a[4], data, 65536, 1);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) { free(data); return NULL; }
  (void)exc;
  int rc = mount(s, t, f, (unsigned long)get_i64(env, a[3]), d);
  int e = errno;
  free(data);
  if (rc != 0) return throw_errno(env, e, "mount", t);
  return undefined(env);
}

/* umount2(target, flags): MNT_FORCE=1, MNT_DETACH=2 */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char t[PATH_BUF];
  if (!get_args(env, info, 2, a) || !get_str(env, a[0], t, sizeof t, 0)) return NULL;
  if (umount2(t, (int)get_i64(env, a[1])) != 0) return throw_errno(env, errno, "umount2", t);
  return undefined(env);
}

/* The new mount API (Linux 5.2+; overlay's "lowerdir+" needs 6.8+). */
#ifndef SYS_fsopen
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#define SYS_move_mount 429
#endif
#define FSCONFIG_SET_FLAG 0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004

/* fsopen(fstype) -> fd */
static napi_value js_fsopen(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char f[64];
  if (!get_args(env, info, 1, a) || !get_str(env, a[0], f, sizeof f, 0)) return NULL;
  long fd = syscall(SYS_fsopen, f, 1 /* FSOPEN_CLOEXEC */);
  if (fd < 0) return throw_errno(env, errno, "fsopen", f);
  return num(env, (double)fd);
}

/* fsconfigString(fd, key, value|null): null sets a flag */
static napi_value js_fsconfig_string(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char k[256], v[PATH_BUF];
  if (!get_args(env, info, 3, a) || !get_str(env, a[1], k, sizeof k, 0)) return NULL;
  char *val = get_str(env, a[2], v, sizeof v, 1);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return NULL;
  long rc = syscall(SYS_fsconfig, (int)get_i64(env, a[0]), val ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, k, val, 0);
  if (rc != 0) return throw_errno(env, errno, "fsconfig", k);
  return undefined(env);
}

/* fsconfigCreate(fd) */
static napi_value js_fsconfig_create(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  if (!get_args(env, info, 1, a)) return NULL;
  if (syscall(SYS_fsconfig, (int)get_i64(env, a[0]), FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0)
    return throw_errno(env, errno, "fsconfig", "create");
  return undefined(env);
}

/* fsmount(fd, attrFlags) -> mount fd */
static napi_value js_fsmount(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  if (!get_args(env, info, 2, a)) return NULL;
  long fd = syscall(SYS_fsmount, (int)get_i64(env, a[0]), 1 /* FSMOUNT_CLOEXEC */, (unsigned)get_i64(env, a[1]));
  if (fd < 0) return throw_errno(env, errno, "fsmount", NULL);
  return num(env, (double)fd);
}

/* moveMount(mountFd, targetPath) */
static napi_value js_move_mount(napi_env env, napi_callback_info info) {
  napi_value a[MAX_ARGS];
  char t[PATH_BUF];
  if (!get_args(env, info, 2, a) || !get_str(env, a[1], t, sizeof t, 0)) return NULL;
  if (syscall(SYS_move_mount, (int)get_i64(env, a[0]), "", AT_FDCWD, t, MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return throw_errno(env, errno, "move_mount", t);
  return undefined(env);
}

#define FN(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_default, NULL }

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    FN("mknod", js_mknod),
    FN("makedev", js_makedev),
    FN("major", js_major),
    FN("minor", js_minor),
    FN("lsetxattr", js_lsetxattr),
    FN("lgetxattr", js_lgetxattr),
    FN("llistxattr", js_llistxattr),
    FN("lremovexattr", js_lremovexattr),
    FN("lutimens", js_lutimens),
    FN("renameat2", js_renameat2),
    FN("mount", js_mount),
    FN("umount2", js_umount2),
    FN("fsopen", js_fsopen),
    FN("fsconfigString", js_fsconfig_string),
    FN("fsconfigCreate", js_fsconfig_create),
    FN("fsmount", js_fsmount),
    FN("moveMount", js_move_mount),
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
