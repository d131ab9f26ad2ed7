// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IERC20 {
    function balanceOf(address) external view returns (uint256);
    function transfer(address, uint256) external returns (bool);
    function transferFrom(address, address, uint256) external returns (bool);
}

/// @title Pool — constant-product pool with Uniswap-v2 arithmetic (0.3 % fee).
/// The input is measured as what actually arrived (balance delta), so a
/// fee-on-transfer token is priced on the real amount; a reentrancy lock
/// refuses any call back into `swap` / `addLiquidity` during a swap.
contract Pool {
    address public immutable token0;
    address public immutable token1;
    uint112 private reserve0;
    uint112 private reserve1;
    uint256 private unlocked = 1;

    event Swap(address indexed sender, address indexed tokenIn, uint256 amountIn, uint256 amountOut, address indexed to);
    event Sync(uint112 reserve0, uint112 reserve1);

    modifier lock() {
        require(unlocked == 1, "Pool: LOCKED");
        unlocked = 0;
        _;
        unlocked = 1;
    }

    constructor(address token0_, address token1_) {
        require(token0_ != token1_ && token0_ != address(0) && token1_ != address(0), "Pool: tokens");
        token0 = token0_;
        token1 = token1_;
    }

    function getReserves() external view returns (uint112, uint112) {
        return (reserve0, reserve1);
    }

    /// Pulls `a0` of token0 and `a1` of token1 from the caller (no LP shares:
    /// a fixture pool, liquidity is a gift).
    function addLiquidity(uint256 a0, uint256 a1) external lock {
        if (a0 != 0) require(IERC20(token0).transferFrom(msg.sender, address(this), a0), "Pool: transfer0");
        if (a1 != 0) require(IERC20(token1).transferFrom(msg.sender, address(this), a1), "Pool: transfer1");
        _sync();
    }

    function swap(address tokenIn, uint256 amountIn, uint256 amountOutMin, address to, uint256 deadline)
        external
        lock
        returns (uint256 amountOut)
    {
        require(block.timestamp <= deadline, "Pool: EXPIRED");
        bool zeroIn = tokenIn == token0;
        require(zeroIn || tokenIn == token1, "Pool: tokenIn");
        address tokenOut = zeroIn ? token1 : token0;
        (uint256 rIn, uint256 rOut) = zeroIn ? (uint256(reserve0), uint256(reserve1)) : (uint256(reserve1), uint256(reserve0));
        uint256 before = IERC20(tokenIn).balanceOf(address(this));
        require(IERC20(tokenIn).transferFrom(msg.sender, address(this), amountIn), "Pool: transferFrom");
        uint256 received = IERC20(tokenIn).balanceOf(address(this)) - before;
        require(received != 0, "Pool: INSUFFICIENT_INPUT");
        uint256 inWithFee = received * 997;
        amountOut = (inWithFee * rOut) / (rIn * 1000 + inWithFee);
        require(amountOut != 0, "Pool: INSUFFICIENT_OUTPUT");
        require(amountOut >= amountOutMin, "Pool: SLIPPAGE");
        require(IERC20(tokenOut).transfer(to, amountOut), "Pool: transfer");
        _sync();
        emit Swap(msg.sender, tokenIn, received, amountOut, to);
    }

    function _sync() private {
        uint256 b0 = IERC20(token0).balanceOf(address(this));
        uint256 b1 = IERC20(token1).balanceOf(address(this));
        require(b0 <= type(uint112).max && b1 <= type(uint112).max, "Pool: OVERFLOW");
        reserve0 = uint112(b0);
        reserve1 = uint112(b1);
        emit Sync(reserve0, reserve1);
    }
}
