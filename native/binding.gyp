{
  "targets": [
    {
      "target_name": "ocimount_native",
      "sources": ["ocimount_native.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
