# Convenience targets; each is a one-line wrapper around a script (Debian 12 may lack make).
.PHONY: package test demo setup screenshots
setup:
	bash scripts/setup.sh
package:
	python3 scripts/package.py --out dist
test:
	bash scripts/test.sh
demo:
	bash scripts/demo.sh
screenshots:
	python3 scripts/screenshots.py --out screenshots
