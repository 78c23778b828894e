out = []
for s in ['line one\nline two\n\nline four\nend', 'caf\u00e9 line\nna\u00efve two\n\u00e9\u00e9\nend\u00e9']:
    n = len(s)
    for a, b in [(0, 5), (3, None), (None, -2), (-7, -1), (5, 3), (-100, 100), (n, n + 5), (2, 2)]:
        out.append(repr(s[a:b]))
    out.append(repr(s[::2]) + repr(s[8:1:-3]))
    for sub in ['\n', 'line', 'e', '\u00e9', 'zz', '']:
        # Empty needles past the end or with start > end differ in Monty 1.4 (it returns the
        # clamped start where CPython returns -1): vendor/README.md lists it; not covered here.
        for start in ([None, 0, 4] if sub == '' else [None, 0, 4, -6, n, n + 3]):
            if start is None:
                out.append(str((s.find(sub), s.rfind(sub), s.count(sub), s.startswith(sub), s.endswith(sub))))
            else:
                out.append(str((s.find(sub, start), s.rfind(sub, start), s.count(sub, start), s.find(sub, start, start + 6), s.startswith(sub, start), s.endswith(sub, 0, start))))
        try:
            out.append(str(s.index(sub, 4)) + ' ' + str(s.rindex(sub, 0, -1)))
        except ValueError as e:
            out.append('ValueError ' + str(e))
print('\n'.join(out))
