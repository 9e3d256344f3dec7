# Shared by the CI stages that build the compiled core their own way.
# shellcheck shell=bash

# copy_tree DEST: the tracked files and the new files that are not ignored
# (no build products) of the working tree into DEST.
copy_tree() {
    git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' \
        | tar -cf - -T - | tar -xf - -C "$1"
}
